"""Language models behind an OpenAI-compatible endpoint: a client, schema-validated replies,
the token ledger, and the checks that keep a model's sentences tied to the user's data.

Nothing a model returns is executed: replies are JSON read into pydantic models and used only
as text and numbers, each number checked against the facts it was given
(:mod:`hpcsched.llm.grounding`).
"""

from hpcsched.llm.client import ChatClient, ChatReply, LLMError
from hpcsched.llm.ledger import Call, TokenLedger
from hpcsched.llm.settings import LLMSettings, SettingsError, load_settings
from hpcsched.llm.structured import Structured, ask
from hpcsched.llm.wire import Usage

__all__ = [
    "Call",
    "ChatClient",
    "ChatReply",
    "LLMError",
    "LLMSettings",
    "SettingsError",
    "Structured",
    "TokenLedger",
    "Usage",
    "ask",
    "load_settings",
]
