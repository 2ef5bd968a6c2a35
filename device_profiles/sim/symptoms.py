"""The short daily questionnaire a simulated person answers, and the weekly COPD Assessment Test (CAT).

Every day the person is asked about breathlessness (`symptom.dyspnoea`) and ankle swelling
(`symptom.oedema`), both 0 none to 4 worst, and general well-being (`symptom.wellbeing`, 0 very poor to 4
very good); once a week a person followed for COPD also answers the CAT's eight questions, each 0-5, whose
total is `cat.score` (0-40). The answers are whole numbers drawn around the person's own normal
(`SymptomProfile`), moved by `SymptomShift` scenarios, and some days go unanswered.

What the literature gives, and what is ours:
- Missing days: a Norwegian COPD service had no data on 7 % of patient-days (United4Health, J Telemed
  Telecare 2017) and older veterans with heart failure answered 75.8 % of their daily telehealth sessions
  (Murphy 2017); the default of 15 % unanswered days lies between the two (our choice).
- Day-to-day variation: no figure in our sources for the daily 0-4 scores; a spread of 0.4 points (our
  choice) keeps a person whose normal is 0.5 at 2 or more on about one day in a hundred. For the CAT, changes
  of more than 4 points from one week to the next were common in stable patients (Jones 2024), so the total
  varies with a spread of about 2 points a week (our choice, drawn per question).
- Normals: the defaults (breathlessness 0.5, swelling 0.5, well-being 3) are ours; a COPD cohort's stable
  CAT was 19.4 +/- 6.8 (Mackay 2012). `draw_profile` draws one person's normals for a cohort.
- Worsening before an event (`SymptomShift`, magnitudes ours): before admission for heart failure,
  breathlessness had worsened for a mean 8.4 days and swelling for 12.4 days (Schiff 2003; medians 3 and 7
  days, Born 2019), and at admission 93 % reported breathlessness and 70 % swelling (Goldberg 2010). Before a
  COPD exacerbation symptoms rise over the two weeks before, most in the last (van den Berge 2012); 56 %
  begin suddenly on the day, the others over a median 4 days (Aaron 2012); the CAT rose from 19.4 to 24.1 at
  exacerbation (Mackay 2012).
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

SCALE_MAX: Final = 4
CAT_QUESTIONS: Final = 8
CAT_ANSWER_MAX: Final = 5
ITEMS_KEY: Final = "cat_items"  # where the CAT's answers travel in the `cat.score` reading's context
UNIT: Final = "{score}"


@dataclass(frozen=True, slots=True)
class SymptomProfile:
    """How one person answers when nothing is happening: the mean daily scores, the mean CAT total (None: no
    CAT, e.g. heart failure only), the day-to-day spread of the daily scores and of the CAT total, the share
    of days nobody answers, the hour the questionnaire is usually answered, and the weekday of the CAT
    (0 Monday)."""

    dyspnoea: float = 0.5
    oedema: float = 0.5
    wellbeing: float = 3.0
    cat: float | None = None
    noise: float = 0.4
    cat_noise: float = 2.0
    missing_day: float = 0.15
    hour: float = 10.0
    cat_weekday: int = 0

    def __post_init__(self) -> None:
        for name in ("dyspnoea", "oedema", "wellbeing"):
            if not 0 <= getattr(self, name) <= SCALE_MAX:
                raise ValueError(f"{name} must be within 0..{SCALE_MAX}")
        if self.cat is not None and not 0 <= self.cat <= CAT_QUESTIONS * CAT_ANSWER_MAX:
            raise ValueError(f"cat must be within 0..{CAT_QUESTIONS * CAT_ANSWER_MAX}")
        if not 0 <= self.missing_day <= 1:
            raise ValueError("missing_day must be a share (0..1)")
        if min(self.noise, self.cat_noise) < 0:
            raise ValueError(f"the spreads must not be negative (noise {self.noise}, cat_noise {self.cat_noise})")
        if not 0 <= self.hour < 24 or self.cat_weekday not in range(7):
            raise ValueError("hour must be within 0..24 and cat_weekday within 0..6 (Monday to Sunday)")


@dataclass(frozen=True, slots=True)
class Answers:
    """One day's answers; `cat_items` on the CAT's day only."""

    dyspnoea: int
    oedema: int
    wellbeing: int
    cat_items: tuple[int, ...] | None = None

    @property
    def cat(self) -> int | None:
        """The CAT total, or None when the CAT was not asked."""
        return None if self.cat_items is None else sum(self.cat_items)

    def payload(self) -> bytes:
        """The submission as the gateway's questionnaire screen records it (JSON)."""
        body: dict[str, object] = {"dyspnoea": self.dyspnoea, "oedema": self.oedema, "wellbeing": self.wellbeing}
        if self.cat_items is not None:
            body[ITEMS_KEY] = list(self.cat_items)
        return json.dumps(body, separators=(",", ":")).encode()


def _score(rng: random.Random, mean: float, spread: float, top: int) -> int:
    return min(top, max(0, round(rng.gauss(mean, spread))))


def answer(profile: SymptomProfile, rng: random.Random, shifts: Mapping[str, float], cat_day: bool) -> Answers | None:
    """The day's answers (None: not answered that day), moved by `shifts` (dyspnoea, oedema, wellbeing, cat).

    The draws come in a fixed order whatever the outcome, so a profile's other settings never move the rest
    of the day's stream.
    """
    skipped = rng.random() < profile.missing_day
    dyspnoea = _score(rng, profile.dyspnoea + shifts.get("dyspnoea", 0.0), profile.noise, SCALE_MAX)
    oedema = _score(rng, profile.oedema + shifts.get("oedema", 0.0), profile.noise, SCALE_MAX)
    wellbeing = _score(rng, profile.wellbeing + shifts.get("wellbeing", 0.0), profile.noise, SCALE_MAX)
    # Each question draws around its share of the total; independent spreads add up to `cat_noise`.
    mean = ((profile.cat or 0.0) + shifts.get("cat", 0.0)) / CAT_QUESTIONS
    spread = profile.cat_noise / math.sqrt(CAT_QUESTIONS)
    items = tuple(_score(rng, mean, spread, CAT_ANSWER_MAX) for _ in range(CAT_QUESTIONS))
    if skipped:
        return None
    return Answers(dyspnoea, oedema, wellbeing, items if cat_day and profile.cat is not None else None)


def draw_profile(rng: random.Random, copd: bool) -> SymptomProfile:
    """One person's symptom normals for a synthetic cohort.

    Ours: heart failure breathlessness and swelling 0.2-0.9 and well-being 2.6-3.6; COPD breathlessness
    0.5-1.1 (breathless more days than not, rarely at 2 when stable), swelling 0-0.6. The CAT total is
    drawn from the stable London cohort, N(19.4, 6.8) within 5-35 (Mackay 2012), for COPD only. The share
    of unanswered days is drawn between the 7 % of United4Health and the 24 % of Murphy 2017.
    """
    dyspnoea = rng.uniform(0.5, 1.1) if copd else rng.uniform(0.2, 0.9)
    oedema = rng.uniform(0.0, 0.6) if copd else rng.uniform(0.2, 0.9)
    wellbeing = rng.uniform(2.6, 3.6)
    cat = min(35.0, max(5.0, rng.gauss(19.4, 6.8)))
    missing = rng.uniform(0.07, 0.24)
    return SymptomProfile(dyspnoea, oedema, wellbeing, cat if copd else None, missing_day=missing)
