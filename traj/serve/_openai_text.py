"""What the OpenAI routes read and write as text: a request's conversation, stop strings, log probabilities.

Pure functions and one small class, so the chat and text routes, streamed or not, share them:
the text a client is shown comes out of :class:`StopCut` either way, which is why a streamed
answer is the unstreamed one, piece by piece.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any

from traj.policy import Generation
from traj.serve._errors import ApiError

__all__ = ["StopCut", "chat_logprobs", "conversation", "kept_tokens", "text_logprobs"]

_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


class StopCut:
    """A generation's text as it grows, ended before the first stop string.

    :meth:`feed` releases only text no stop string can still claim (a tail that could begin one
    is held back until the next piece decides), so what was shown never has to be taken back.
    """

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = tuple(stops)
        self.stopped = False
        """A stop string appeared: the text ends before it and the generation may stop."""
        self._seen = ""
        self._sent = 0

    @property
    def text(self) -> str:
        """The text released so far (all of it, once :meth:`finish` has run)."""
        return self._seen[: self._sent]

    def feed(self, piece: str) -> str:
        """Take a new token's text; returns the text that may be shown now."""
        if self.stopped:
            return ""
        self._seen += piece
        return self._release(final=False)

    def finish(self, text: str) -> str:
        """Take the generation's whole text (all a backend that streams nothing gives); returns the rest to show."""
        if not self.stopped and text.startswith(self.text):
            self._seen = text
        return self._release(final=True)

    def _release(self, *, final: bool) -> str:
        found = [index for index in (self._seen.find(stop) for stop in self.stops) if index >= 0]
        if found:
            self.stopped = True
            end = min(found)
        elif final:
            end = len(self._seen)
        else:
            end = len(self._seen) - self._claimable_tail()
        released = self._seen[self._sent : max(end, self._sent)]
        self._sent = max(end, self._sent)
        return released

    def _claimable_tail(self) -> int:
        """Length of the longest end of the text that is the beginning of a stop string."""
        return max(
            (size for stop in self.stops for size in range(1, len(stop)) if self._seen.endswith(stop[:size])),
            default=0,
        )


def conversation(messages: list[dict[str, Any]], *, images: bool) -> tuple[list[dict[str, str]], bytes | None]:
    """The request's messages as text turns (``role``: system, user, assistant) and, where ``images``, the first image.

    Whatever the model cannot read is refused (400) rather than dropped: an image part for a
    model that reads none, tool calls and tool results, other content types.
    """
    turns: list[dict[str, str]] = []
    image = None
    for index, message in enumerate(messages):
        role = message.get("role")
        if role in ("tool", "function") or message.get("tool_calls") or message.get("function_call"):
            raise ApiError(
                400,
                f"messages[{index}]: tool calls and tool results need tool support, which this server has not",
                param="messages",
                code="tools_not_supported",
            )
        if role not in _ROLES:
            raise ApiError(
                400, f"messages[{index}].role: {role!r} is not system, developer, user or assistant", param="messages"
            )
        text, found = _content(message.get("content"), index, images=images and role == "user")
        image = image or found
        turns.append({"role": _ROLES[role], "content": text})
    return turns, image


def _content(content: Any, index: int, *, images: bool) -> tuple[str, bytes | None]:
    """A message's text (its text parts joined by newlines) and its first image."""
    if isinstance(content, str):
        return content, None
    if not isinstance(content, list):
        raise ApiError(400, f"messages[{index}].content must be a string or a list of parts", param="messages")
    texts: list[str] = []
    image = None
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind == "image_url" and images:
            image = image or _image(part.get("image_url"))
        elif kind == "image_url":
            raise ApiError(
                400,
                f"messages[{index}]: this model reads text only; it cannot take an image part",
                param="messages",
                code="image_not_supported",
            )
        else:
            raise ApiError(
                400,
                f"messages[{index}]: a content part of type {kind!r} is not supported (text only)",
                param="messages",
            )
    return "\n".join(texts), image


def _image(image: Any) -> bytes:
    url = image.get("url", "") if isinstance(image, dict) else str(image or "")
    head, _, data = url.partition(",")
    if not (head.startswith("data:") and head.endswith(";base64")):
        raise ApiError(400, "images must be base64 data: URLs (the server fetches nothing)", param="messages")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "an image's data: URL is not valid base64", param="messages") from None


def kept_tokens(generation: Generation, text: str) -> int:
    """How many of the generation's tokens make ``text`` (its beginning, where a stop string cut it).

    An end-of-sequence token adds no text and is not counted, as OpenAI's API reports none.
    """
    if not generation.token_texts:
        return len(generation.token_logprobs)
    offset = count = 0
    for piece in generation.token_texts[: len(generation.token_logprobs)]:
        if offset >= len(text):
            break
        offset += len(piece)
        count += 1
    return count


def chat_logprobs(generation: Generation, text: str, top: int) -> dict[str, Any]:
    """The ``logprobs`` of a chat completion's choice: each token of ``text``, with ``top`` alternatives."""
    return {
        "content": [
            {**_token(piece, logprob), "top_logprobs": [_token(*pair) for pair in alternatives[:top]]}
            for piece, logprob, alternatives in _tokens(generation, text)
        ]
    }


def text_logprobs(generation: Generation, text: str, top: int) -> dict[str, Any]:
    """The ``logprobs`` of a text completion's choice (the legacy shape): tokens, offsets, ``top`` alternatives."""
    tokens = list(_tokens(generation, text))
    offsets, offset = [], 0
    for piece, _, _ in tokens:
        offsets.append(offset)
        offset += len(piece)
    return {
        "tokens": [piece for piece, _, _ in tokens],
        "token_logprobs": [logprob for _, logprob, _ in tokens],
        "top_logprobs": [dict(alternatives[:top]) for _, _, alternatives in tokens] if top else None,
        "text_offset": offsets,
    }


def _tokens(generation: Generation, text: str) -> list[tuple[str, float, list[tuple[str, float]]]]:
    count = kept_tokens(generation, text)
    pieces = generation.token_texts or [""] * len(generation.token_logprobs)
    tops = generation.top_logprobs or [[] for _ in generation.token_logprobs]
    return list(zip(pieces[:count], generation.token_logprobs[:count], tops[:count], strict=True))


def _token(piece: str, logprob: float) -> dict[str, Any]:
    return {"token": piece, "logprob": logprob, "bytes": list(piece.encode())}
