"""What a KakaoTalk export holds that nobody said: notices (invited, left) and media stand-ins."""

from __future__ import annotations

import re

# Facts from public exports and parsers' fixtures (tests/fixtures/kakao/README.md lists them).
# Notices as the apps write them, Korean then English:
#   A님이 B님과 C님을 초대했습니다.   A님이 나갔습니다.   A님이 들어왔습니다.
#   채팅방 관리자가 A님을 내보냈습니다.
#   A invited B and C.   A left.   A left this chatroom.   A joined this chatroom.
# Mobile exports put them after a timestamp with no "Name : "; the PC .txt export writes them
# on a line of their own, so there a line is one only when the whole line is (and, see
# kakao.parse_txt, when no more of a message follows it).
_KOREAN_NOTICE = re.compile(
    r"^(?:.+님이 (?:들어왔습니다|나갔습니다|입장했습니다|퇴장했습니다)"
    r"|.+님이 .+님을 초대했습니다"
    r"|.*님을 내보냈습니다"
    r"|채팅방 관리자가 .+습니다)\.?$"
)
_ENGLISH_NOTICE = re.compile(
    r"^(?:.+ (?:joined|left) this chatroom|.+ invited .+ to the chatroom"
    r"|.+ (?:has been|was) removed from (?:this|the) chatroom)\.$",
    re.IGNORECASE,
)
# "A invited B." / "A left." / "A joined.": short enough to be someone's words, so the subject
# must be the message's speaker (CSV rows) or, on a line of its own, look like a name.
_SHORT_NOTICE = re.compile(r"^(?P<who>[^.,!?:]{1,40}?) (?:invited (?P<whom>.+)|left|joined)\.$")
# Subjects no display name starts with: "I left.", "My mom invited everyone." are people talking.
_NOT_NAMES = frozenset(
    {"i", "we", "you", "he", "she", "they", "it", "this", "that", "everyone", "someone"}
    | {"my", "our", "your", "his", "her", "their", "the", "a", "an"}
)

# Media and deleted messages, as the whole text of a message. Korean: 사진, 사진 3장, <사진>
# (Android 2015), (사진) (Mac CSV), 동영상, 이모티콘, 음성메시지, 파일: name, 삭제된 메시지입니다.
# English: Photo, 3 photos, <Photo> (Android 2015), (Photo) (Mac CSV), photo (iOS 2015),
# <Photo Unread> / <Video Unread> (Android), Emoticons, File: name, This message was deleted.
_PLACEHOLDER = re.compile(
    r"^[<(]?(?:"
    r"사진(?: \d+장)?|동영상|이모티콘|음성메시지|보이스톡 해요\.?|페이스톡 해요\.?|파일: .+"
    r"|삭제된 메시지입니다\.?|메시지가 삭제되었습니다\.?"
    r"|photos?|\d+ photos|videos?|emoticons?|stickers?|voice (?:message|note)|audio|file: .+"
    r"|(?:this|the) message (?:was|has been) deleted\.?|deleted message\.?|message deleted\.?"
    r")(?: unread)?[>)]?$",
    re.IGNORECASE,
)


def is_notice(text: str, speaker: str | None = None) -> bool:
    """A join / leave / invite notice; `speaker` is the row's name when the export gives one."""
    text = text.strip()
    if _KOREAN_NOTICE.match(text) or _ENGLISH_NOTICE.match(text):
        return True
    short = _SHORT_NOTICE.match(text)
    if short is None:
        return False
    who, whom = short["who"].strip(), short["whom"]
    if speaker is not None:
        return who == speaker.strip()
    if who.split()[0].casefold() in _NOT_NAMES:
        return False
    # "Mom invited us over." is talk too; names carry a capital or no case (수지) at all.
    words = (whom or "").replace(",", " ").split()
    return not any(word.islower() and word != "and" for word in words)


def is_placeholder(text: str) -> bool:
    """A message that stands for a photo, video, emoticon, file or deleted message."""
    return bool(_PLACEHOLDER.match(text.strip()))
