"""`tunebot demo --local`: a KakaoTalk export in, a trained adapter out, its answer after."""

from __future__ import annotations

import io

from tests.local_helpers import require_train_extra

require_train_extra()


def test_the_local_demo_trains_an_adapter_that_answers_from_the_export() -> None:
    from emulators.demo import play_local

    out = io.StringIO()
    assert play_local(out) == 0, out.getvalue()
    text = out.getvalue()
    assert "training: step" in text and "A new model is live" in text
    answer = text.split("minji: @tunebot")[1]
    assert "tunebot [tunebot-" in answer and "금요일 오후 세 시에 해요!" in answer
