"""Which passwords are too easy to guess: too short, the username, one of the most common, or a run of one
or two repeated characters or of consecutive ones ("aaaaaaaa", "12345678", "abcdefgh").

Pure and offline: a small built-in list of the passwords that lead every leaked-password count, long
enough to pass the length rule, so that the first guesses of any attacker are refused.
"""

from __future__ import annotations

MIN_LENGTH = 8
#: The most common leaked passwords of at least MIN_LENGTH characters (compared lower-cased).
COMMON = frozenset(
    """
    password password1 password12 password123 password1234 passw0rd p@ssw0rd p@ssword pa$$word
    12345678 123456789 1234567890 12345678910 0123456789 87654321 987654321 11111111 00000000 88888888
    12341234 11223344 123123123 1q2w3e4r 1q2w3e4r5t 1qaz2wsx qwertyui qwertyuiop qwerty123 qwerty12
    asdfghjk asdfghjkl zxcvbnm1 zaq12wsx q1w2e3r4 1234qwer qwer1234 abcd1234 abc12345 abcdefgh
    iloveyou iloveyou1 sunshine princess football baseball superman batman12 starwars trustno1
    welcome1 welcome123 letmein1 letmein123 whatever computer internet michelle jennifer jordan23
    liverpool chelsea1 arsenal1 mustang1 shadow12 master12 monkey12 dragon12 charlie1 freedom1
    changeme changeme1 administrator admin123 admin1234 adminadmin rootroot root1234 test1234
    testtest 1234abcd secret12 secret123 trainboard trainboard1 trainboard123 default1 guest123
    """.split()
)


def _is_run(text: str) -> bool:
    """Consecutive characters, up or down: 12345678, abcdefgh, 98765432."""
    steps = {ord(b) - ord(a) for a, b in zip(text, text[1:], strict=False)}
    return steps in ({1}, {-1})


def password_problem(password: str, username: str | None = None) -> str | None:
    """Why `password` is too easy to guess (a sentence to show next to the field), or None if it is not."""
    if len(password) < MIN_LENGTH:
        return f"must be at least {MIN_LENGTH} characters long"
    lowered = password.lower()
    if username and lowered in (username.lower(), username.lower()[::-1]):
        return "must not be the username"
    if lowered in COMMON:
        return "is one of the most common passwords: choose one that is not on any list"
    if len(set(lowered)) <= 2 or _is_run(lowered):
        return "is a run of repeated or consecutive characters: choose a less predictable one"
    return None
