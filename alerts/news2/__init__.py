"""NEWS2 (Royal College of Physicians, 2017): the chart as data, scoring, and observation windows."""

from alerts.news2.chart import Band, Consciousness, Param
from alerts.news2.score import News2Input, News2Result, score_news2
from alerts.news2.window import Observation, news2_from_observations

__all__ = [
    "Band",
    "Consciousness",
    "News2Input",
    "News2Result",
    "Observation",
    "Param",
    "news2_from_observations",
    "score_news2",
]
