"""The team gateway: `/v1/messages`, `/v1/messages/count_tokens` and `/v1/models` for personal keys.

Members' scripts and SDKs call chatsite as they would call the Messages API; every call goes
through the same accounts, model access, limiter and ledger as the chat (decisions 64-67).
"""
