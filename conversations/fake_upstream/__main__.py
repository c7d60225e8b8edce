"""`python -m conversations.fake_upstream`: run the fake Messages API in the foreground."""

from .command import main

main()
