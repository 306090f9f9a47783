"""Final answers: read them from GSM8K solutions (``extract_gsm8k_answer``) and from completions
(``extract_answer``, or ``extract_all_answers`` to see a completion that hedges), and compare them (``answers_match``).

Plain numbers are compared exactly, as fractions; anything else goes to math-verify, the library TRL's
``accuracy_reward`` uses. Differences from math-verify alone (tested in ``tests/test_answers.py``): ``"−3"`` (a
unicode minus) equals ``"-3"`` here; ``"0.333"`` is not ``"1/3"``; ``"3,5"`` is read by math-verify as 3.5;
``"5%"`` equals both ``"0.05"`` and ``"5"``; answers over ``MATH_VERIFY_MAX_CHARS`` characters never match.
"""

from __future__ import annotations

import re
import threading
from decimal import Decimal
from fractions import Fraction

ANSWER_TAG_RE = re.compile(r"<answer>(.*?)</answer>", re.DOTALL | re.IGNORECASE)
HASHES_RE = re.compile(r"####[ \t]*([^\n<]*)")
BOXED_RE = re.compile(r"\\boxed\s*\{")
PHRASE_RE = re.compile(
    r"(?:the\s+)?(?:final\s+)?answer\s*(?:is|:|=)\s*:?\s*"
    r"(?P<ans>[-−$€£]*\s*\$?\s*[-−]?\d[\d,]*(?:\.\d+)?(?:\s*/\s*\d+)?)",
    re.IGNORECASE,
)

# Unicode minus signs and dashes a model or a copy-paste may produce instead of "-".
_MINUS = str.maketrans(dict.fromkeys("\u2212\u2013\u2012\ufe63\uff0d", "-"))
_THOUSANDS_RE = re.compile(r"^-?\d{1,3}(,\d{3})+(\.\d+)?$")
_NUMBER_RE = re.compile(r"^-?(\d+(\.\d*)?|\.\d+)$")
_FRACTION_RE = re.compile(r"^(-?\d+)\s*/\s*(\d+)$")
MATH_VERIFY_MAX_CHARS = 300  # longer "answers" are not compared


def _clean(text: str) -> str:
    """Unicode minus to "-", no currency signs, no thousands separators, no trailing full stop."""
    text = str(text).strip().translate(_MINUS)
    text = re.sub(r"[$€£]", "", text).replace("\\$", "").strip()
    text = text.rstrip(".").strip() if re.search(r"\d\.$", text) else text
    text = re.sub(r"^-\s+", "-", text)
    if _THOUSANDS_RE.match(text):
        text = text.replace(",", "")
    return text


def parse_number(text) -> Fraction | None:
    """The exact value of a plain number (``"$1,000"``, ``"−3"``, ``"18.00"``, ``"1/2"``), else None: only whole
    strings that are numbers count (``"42 apples"`` is None here; math-verify reads it)."""
    if text is None:
        return None
    cleaned = _clean(text)
    if cleaned.endswith("%"):
        return None  # a percentage: leave it to math-verify, which knows 5% = 0.05
    if _NUMBER_RE.match(cleaned):
        return Fraction(cleaned)
    fraction = _FRACTION_RE.match(cleaned)
    if fraction and int(fraction.group(2)) != 0:
        return Fraction(int(fraction.group(1)), int(fraction.group(2)))
    return None


def format_number(value: Fraction) -> str:
    """A canonical string for a value: ``18``, ``-3``, ``0.5``, ``1/3`` (no trailing ``.0``)."""
    if value.denominator == 1:
        return str(value.numerator)
    decimal = Decimal(value.numerator) / Decimal(value.denominator)
    if Fraction(decimal) == value:  # a finite decimal (exact within Decimal's 28 digits)
        return format(decimal.normalize(), "f")
    return f"{value.numerator}/{value.denominator}"


def normalize_answer(text) -> str | None:
    """A number written canonically (``"$1,000.00"`` -> ``"1000"``), other text stripped; None stays None."""
    if text is None:
        return None
    value = parse_number(text)
    return format_number(value) if value is not None else str(text).strip()


def extract_gsm8k_answer(solution: str) -> str:
    """The final answer of a GSM8K reference solution: the text after ``####``, normalised.

    >>> extract_gsm8k_answer("He pays 2 * 500 = <<2*500=1000>>1000 dollars.\\n#### 1,000")
    '1000'
    """
    if not isinstance(solution, str):
        raise TypeError(f"extract_gsm8k_answer expects the solution text (a str), got {type(solution).__name__}")
    if "####" not in solution:
        raise ValueError(
            "This is not a GSM8K reference solution: it has no '####' line. Pass the dataset's `answer` "
            f"column (a solution ending in '#### <number>'), not {solution[:80]!r}"
        )
    answer = solution.rsplit("####", 1)[1].strip().splitlines()
    if not answer or not answer[0].strip():
        raise ValueError(f"The '####' line of this GSM8K solution is empty: {solution[-80:]!r}")
    return normalize_answer(answer[0])


def _boxed_contents(text: str) -> list[str]:
    """The contents of every ``\\boxed{...}``, with nested braces (``\\boxed{\\frac{1}{2}}``)."""
    found = []
    for match in BOXED_RE.finditer(text):
        depth, start = 1, match.end()
        for i in range(start, len(text)):
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
                if depth == 0:
                    found.append(text[start:i])
                    break
    return found


def extract_all_answers(completion: str) -> list[tuple[str, str]]:
    """Every final answer marked in ``completion``, as ``(format, answer)`` pairs, in precedence order:
    ``"answer_tag"``, ``"hashes"``, ``"boxed"``, ``"phrase"``, each in the order they appear; empty markers
    (``<answer></answer>``) are skipped."""
    if completion is None:
        return []
    if not isinstance(completion, str):
        raise TypeError(
            f"extract_answer expects the completion's text (a str), got {type(completion).__name__}; "
            "for a conversational completion use grpo_helpers.rewards.completion_text(completion) first"
        )
    found = [("answer_tag", a) for a in ANSWER_TAG_RE.findall(completion)]
    found += [("hashes", a) for a in HASHES_RE.findall(completion)]
    found += [("boxed", a) for a in _boxed_contents(completion)]
    found += [("phrase", m.group("ans")) for m in PHRASE_RE.finditer(completion)]
    found = [(kind, answer.strip().rstrip(".").strip()) for kind, answer in found]
    return [(kind, answer) for kind, answer in found if answer]


def extract_answer(completion: str) -> str | None:
    """The final answer a model wrote, or None when it marked none.

    Precedence: the tutorial's ``<answer>...</answer>`` beats ``#### N``, which beats ``\\boxed{N}``, which beats
    "The answer is N"; within one format the last one wins. It is returned as written (stripped, without a
    trailing full stop); ``answers_match`` understands ``$``, thousands separators and fractions.
    """
    answers = extract_all_answers(completion)
    if not answers:
        return None
    return [answer for kind, answer in answers if kind == answers[0][0]][-1]  # the last one of the best format


def answers_match(predicted, reference) -> bool:
    """True when ``predicted`` and ``reference`` are the same answer. Plain numbers are compared exactly ("18" =
    "18.0" = "$18" = "18.00"; "1,000" = "1000"; "-3" = "−3"; "0.5" = "1/2"), anything else by math-verify
    ("\\frac{1}{2}" = "0.5", "42 apples" = "42"). ``None`` or an empty string never matches."""
    if predicted is None or reference is None or not str(predicted).strip() or not str(reference).strip():
        return False
    exact_predicted, exact_reference = parse_number(predicted), parse_number(reference)
    if exact_predicted is not None and exact_reference is not None:
        return exact_predicted == exact_reference
    from math_verify import parse, verify

    predicted, reference = _clean(predicted), _clean(reference)
    if max(len(predicted), len(reference)) > MATH_VERIFY_MAX_CHARS:
        return False  # a paragraph is not an answer, and sympy could take long on it
    # math-verify's timeouts use signals, which only work in the main thread.
    timeout = 5 if threading.current_thread() is threading.main_thread() else None
    try:
        gold = parse(reference, parsing_timeout=timeout)
        target = parse(predicted, parsing_timeout=timeout)
        return bool(gold) and bool(target) and verify(gold, target, timeout_seconds=timeout)
    except Exception:  # math-verify raises on exotic input; an unreadable answer is not a match
        return False
