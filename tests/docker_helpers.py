"""What `docker build` sends and copies, read from the files as Docker reads them (no engine).

The .dockerignore rules are a port of Docker's own matcher (github.com/moby/patternmatcher:
`ignorefile.ReadAll`, `New`, `Pattern.compile` and `MatchesOrParentMatches`, which BuildKit
applies to every path of the build context): `*` and `?` stay within a path segment, `**`
spans segments, a pattern that matches a folder matches everything in it, `!` re-includes,
and the last pattern that matches decides.
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

_ESCAPED = set(".+()|{}$")  # regexp metacharacters with no meaning in a path pattern


def go_clean(path: str) -> str:
    """Go's filepath.Clean on a slash path (normpath, but `//a` is `/a`)."""
    cleaned = posixpath.normpath(path)
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


def go_dir(path: str) -> str:
    """Go's filepath.Dir: everything before the last slash, cleaned; "." without one."""
    return go_clean(path[: path.rfind("/") + 1]) if "/" in path else "."


def read_ignore_file(text: str) -> list[str]:
    """`ignorefile.ReadAll`: the patterns of a .dockerignore, `!` kept in front."""
    patterns = []
    for raw in text.removeprefix("\ufeff").splitlines():
        if raw.startswith("#"):  # a comment only when `#` is the line's first character
            continue
        pattern = raw.strip()
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = go_clean(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        patterns.append(("!" if invert else "") + pattern)
    return patterns


@dataclass(frozen=True)
class Pattern:
    text: str
    exclusion: bool  # a `!` line: what it matches is sent after all
    kind: str  # "exact", "prefix", "suffix" or "regexp", as patternmatcher classifies it
    regexp: re.Pattern[str] | None

    @classmethod
    def compile(cls, line: str) -> Pattern:
        line = go_clean(line.strip())
        exclusion = line.startswith("!")
        if exclusion:
            if len(line) == 1:
                raise ValueError('illegal exclusion pattern: "!"')
            line = line[1:]
        regex, kind, i = "^", "exact", 0
        while i < len(line):
            start, ch = i, line[i]
            i += 1
            if ch == "*":
                if line[i : i + 1] == "*":
                    i += 1
                    if line[i : i + 1] == "/":
                        i += 1  # `**/` is `**`
                    if i == len(line):  # `**` at the end accepts everything, as in .gitignore
                        if kind == "exact":
                            kind = "prefix"
                        else:
                            regex, kind = regex + ".*", "regexp"
                    else:
                        regex, kind = regex + "(.*/)?", "regexp"
                    if start == 0:
                        kind = "suffix"
                else:
                    regex, kind = regex + "[^/]*", "regexp"
            elif ch == "?":
                regex, kind = regex + "[^/]", "regexp"
            elif ch in _ESCAPED:
                regex += "\\" + ch
            elif ch == "\\":
                if i < len(line):
                    regex, kind, i = regex + "\\" + line[i], "regexp", i + 1
                else:
                    regex += "\\\\"
            elif ch in "[]":
                regex, kind = regex + ch, "regexp"
            else:
                regex += ch
        compiled = re.compile(regex + "$") if kind == "regexp" else None
        return cls(line, exclusion, kind, compiled)

    def match(self, path: str) -> bool:
        if self.kind == "exact":
            return path == self.text
        if self.kind == "prefix":
            return path.startswith(self.text[:-2])
        if self.kind == "suffix":
            suffix = self.text[2:]
            return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
        assert self.regexp is not None
        return self.regexp.match(path) is not None


class IgnoreRules:
    """A .dockerignore's patterns, answering whether a path stays out of the build context."""

    def __init__(self, patterns: list[str]) -> None:
        self.patterns = [Pattern.compile(p) for p in patterns if p.strip()]

    @classmethod
    def read(cls, path: Path) -> IgnoreRules:
        return cls(read_ignore_file(path.read_text(encoding="utf-8")) if path.exists() else [])

    def excludes(self, path: str) -> bool:
        """`MatchesOrParentMatches`: the path, or a folder above it, is ignored."""
        path = go_clean(path)
        if path == ".":
            return False
        parent = go_dir(path)
        folders = parent.split("/")
        excluded = False
        for pattern in self.patterns:
            if pattern.exclusion != excluded:
                continue  # it could not change the outcome
            matched = pattern.match(path)
            if not matched and parent != ".":
                matched = any(
                    pattern.match("/".join(folders[: i + 1])) for i in range(len(folders))
                )
            if matched:
                excluded = not pattern.exclusion
        return excluded


def ignore_file_for(dockerfile: Path, context: Path) -> Path:
    """BuildKit reads `<Dockerfile>.dockerignore` beside the Dockerfile first, then the
    context's `.dockerignore`."""
    own = dockerfile.with_name(dockerfile.name + ".dockerignore")
    return own if own.exists() else context / ".dockerignore"


def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction: continuation lines joined, comments dropped."""
    found: list[tuple[str, str]] = []
    pending = ""
    for line in dockerfile.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # a comment inside a continued instruction is dropped
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        whole = (pending + stripped).strip()
        pending = ""
        keyword, _, rest = whole.partition(" ")
        found.append((keyword.upper(), rest.strip()))
    return found


def copied_sources(dockerfile: str) -> list[str]:
    """The build-context paths that COPY and ADD take (not another stage's, a URL, a heredoc)."""
    sources: list[str] = []
    for keyword, rest in instructions(dockerfile):
        if keyword not in ("COPY", "ADD"):
            continue
        words = rest.split()
        flags = [w for w in words if w.startswith("--")]
        if any(f.startswith("--from=") for f in flags):
            continue
        rest = " ".join(w for w in words if not w.startswith("--"))
        args = json.loads(rest) if rest.startswith("[") else rest.split()
        for source in args[:-1]:
            if source.startswith("<<") or re.match(r"^[a-z]+://|^git@", source):
                continue
            sources.append(go_clean(source.lstrip("/")))
    return sources


def denotes(source: str, path: str) -> bool:
    """Whether a COPY source takes the context file `path` (a folder takes all inside it;
    wildcards as Go's filepath.Match, `*` within a segment)."""
    if source == ".":
        return True
    if not re.search(r"[*?\[]", source):
        return path == source or path.startswith(source + "/")
    parts = path.split("/")
    pattern = Pattern.compile(source)
    return any(pattern.match("/".join(parts[: i + 1])) for i in range(len(parts)))
