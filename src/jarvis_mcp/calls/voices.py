"""A contact's voice: an ElevenLabs premade voice by name, or any voice id from the person's voice library."""

from __future__ import annotations

import re

from jarvis_mcp.errors import InvalidInput

#: ElevenLabs' long-standing premade voices (name -> voice id), so a person can say "Rachel" instead of an id.
VOICES = {
    "rachel": "21m00Tcm4TlvDq8ikWAM", "domi": "AZnzlk1XvdvUeBnXmlld", "bella": "EXAVITQu4vr4xnSDxMaL",
    "antoni": "ErXwobaYiN019PkySvjV", "elli": "MF3mGyEYCl7XYWbV9V6O", "josh": "TxGEqnHWrfWFTfGW9XjX",
    "arnold": "VR6AewLTigWG4xSOukaG", "adam": "pNInz6obpgDQGcFmaJgB", "sam": "yoZ06aMxZJJ28mfd3POQ",
}
_VOICE_ID = re.compile(r"^[A-Za-z0-9]{20}$")
MAX_PERSONALITY = 300


def voice_id(voice: str) -> str:
    text = voice.strip()
    if text.lower() in VOICES:
        return VOICES[text.lower()]
    if _VOICE_ID.match(text):
        return text
    raise InvalidInput("voice", f"must be an ElevenLabs voice id (20 letters and digits) or one of "
                                f"{', '.join(n.title() for n in VOICES)}")
