"""The implementation under test: better-profanity's word-list filter (pip install 'libet[guards]').

``veto(text)`` is True when the filter flags the request, which is what a deployed filter does
with it: refuse. libet imports this module because the command line names it (--veto)."""

from better_profanity import profanity

profanity.load_censor_words()


def veto(text: str) -> bool:
    return profanity.contains_profanity(text)
