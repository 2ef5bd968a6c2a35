"""Questionnaire answers as readings: the symptom scores and the COPD Assessment Test (CAT). Pure: no database.

The catalogue's ordinal metrics (`symptom.dyspnoea`, `symptom.oedema`, `symptom.wellbeing`, `cat.score`) are
answers on a scale, so a value is a whole number within the metric's range; 2.5 is no answer anyone gave. A
CAT is sent either as its total (`cat.score`) or with its eight answers, each 0-5 in the test's order (in
the reading's context under `cat_items` from a gateway, as the `cat_items` field of a visit's entry), which
the server adds up. A CAT with an unanswered question has no score: the instrument is scored from all eight
answers, and a total of seven would read as better health than the person reported. Such a CAT, an answer
outside its scale and a total that does not match its answers are refused (quarantined from a gateway,
refused field by field at a visit) and never reach the rules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final, Literal

CAT_METRIC: Final = "cat.score"
CAT_QUESTIONS: Final = 8
CAT_ANSWER_MAX: Final = 5
ITEMS_KEY: Final = "cat_items"

# What is wrong with a CAT's answers: its shape (not a list, the wrong number, a question left unanswered)
# or an answer outside the 0-5 scale.
CatFault = Literal["not_a_list", "count", "unanswered", "not_an_answer"]


@dataclass(frozen=True, slots=True)
class CatProblem:
    """Why a CAT's answers give no score; `question` is 1-based, `count` the number of answers given."""

    fault: CatFault
    question: int = 0
    count: int = 0

    @property
    def shape(self) -> bool:
        """True when the answers are incomplete or not a list (not a value out of range)."""
        return self.fault != "not_an_answer"

    def detail(self) -> str:
        """An English description for the quarantine."""
        if self.fault == "not_a_list":
            return f"{ITEMS_KEY} must be a list of the CAT's {CAT_QUESTIONS} answers"
        if self.fault == "count":
            return f"the CAT has {CAT_QUESTIONS} questions; {self.count} answers were sent"
        if self.fault == "unanswered":
            return f"CAT question {self.question} is not answered; a CAT with an unanswered question is not scored"
        return f"CAT question {self.question} must be answered with a whole number from 0 to {CAT_ANSWER_MAX}"


def is_answer(value: float, low: float, high: float) -> bool:
    """Whether `value` is a whole number within `low`..`high` (an answer on a scale)."""
    return math.isfinite(value) and value.is_integer() and low <= value <= high


def cat_answers(items: Any) -> tuple[int, ...] | CatProblem:
    """The CAT's eight answers as whole numbers (their sum is the score), or the first problem found (shape
    before range)."""
    if not isinstance(items, list):
        return CatProblem("not_a_list")
    if len(items) != CAT_QUESTIONS:
        return CatProblem("count", count=len(items))
    for number, item in enumerate(items, start=1):
        if item is None:
            return CatProblem("unanswered", question=number)
    for number, item in enumerate(items, start=1):
        if not _cat_answer(item):
            return CatProblem("not_an_answer", question=number)
    return tuple(int(item) for item in items)


def _cat_answer(item: Any) -> bool:
    if isinstance(item, bool):
        return False
    if isinstance(item, int):  # compared as is: an integer of any length never becomes a float here
        return 0 <= item <= CAT_ANSWER_MAX
    return isinstance(item, float) and is_answer(item, 0, CAT_ANSWER_MAX)
