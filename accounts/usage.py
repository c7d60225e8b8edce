"""The token counts of a Messages API usage, named once for the ledger, reports and exports.

No Django here: `conversations` imports it as well. `conversations/anthropic/` keeps its own
`Usage` fields (that package imports nothing of the app); a test checks the two agree.
"""

USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)
# The counts of the prompt: a call that reported none of them gets an estimated input.
PROMPT_FIELDS = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
# The usage field each price of a catalog model (and of a charge's snapshot) applies to.
PRICED_FIELD = {
    "input": "input_tokens",
    "output": "output_tokens",
    "cache_write": "cache_creation_input_tokens",
    "cache_read": "cache_read_input_tokens",
}
