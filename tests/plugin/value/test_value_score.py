"""Value score, segments, high risk (docs/metrics.md "Value score", "Segments")."""

import numpy as np
import pytest

from plugin.value.codes import Segment
from plugin.value.score import (
    ScoreWeights,
    high_risk,
    perceived_value,
    percentile_within,
    segment,
    value_score,
)


def test_percentile_rank_is_within_currency() -> None:
    p = percentile_within([10, 20, 30, 5, np.nan], ["USD", "USD", "USD", "EUR", "USD"])
    assert p[:4].tolist() == [0.0, 0.5, 1.0, 0.5]  # a lone EUR subscriber sits at 0.5
    assert np.isnan(p[4])
    ties = percentile_within([10, 10, 20], ["USD"] * 3)
    assert ties.tolist() == [0.25, 0.25, 1.0]


def test_perceived_value_uses_whatever_was_answered() -> None:
    p = perceived_value([8, 6, np.nan, np.nan], [5, np.nan, 3, np.nan])
    assert p[:3] == pytest.approx([0.9, 0.6, 0.5])  # mean(0.8, 1.0); 0.6; (3−1)/4
    assert np.isnan(p[3])


def test_value_score_hand_computed() -> None:
    s = value_score(
        economic=[0.5, 0.5, 0.5, np.nan],
        perceived=[0.9, 0.9, np.nan, np.nan],
        perceived_age_days=[0.0, 180.0, np.nan, np.nan],
        churn_risk=[0.2, 0.2, 0.2, np.nan],
    )
    # 0: (0.4·0.5 + 0.3·0.9 + 0.3·0.8) / 1.0 = 0.71
    # 1: answer one half-life old, perceived weight 0.15: (0.2 + 0.135 + 0.24)/0.85
    # 2: perceived missing, renormalised over 0.7: (0.2 + 0.24)/0.7
    # 3: nothing present: NaN, never imputed
    assert s.score[:3] == pytest.approx([71.0, 100 * 0.575 / 0.85, 100 * 0.44 / 0.7])
    assert np.isnan(s.score[3])
    assert s.present.tolist() == [
        [True, True, True],
        [True, True, True],
        [True, False, True],
        [False, False, False],
    ]
    assert np.isnan(s.components[2, 1])
    assert s.weights[1, 1] == pytest.approx(0.15)


def test_value_score_weights_are_configurable() -> None:
    s = value_score([1.0], [0.0], [0.0], [1.0], ScoreWeights(1.0, 0.0, 0.0))
    assert s.score.tolist() == [100.0]


def test_segments_grid() -> None:
    econ = [0.9, 0.9, 0.6, 0.3, 0.1, 0.5, np.nan, 0.5, 0.5]
    risk = [0.05, 0.12, 0.3, 0.3, 0.05, 0.05, 0.1, np.nan, 0.15]
    assert segment(econ, risk).tolist() == [
        Segment.CHAMPIONS,
        Segment.LOYAL,  # top value but not clearly safe
        Segment.AT_RISK_HIGH_VALUE,
        Segment.NEEDS_ATTENTION,
        Segment.LOW_VALUE,
        Segment.LOYAL,
        Segment.UNSCORED,
        Segment.UNSCORED,
        Segment.AT_RISK_HIGH_VALUE,  # 0.15 is high risk, 0.5 is high value
    ]


def test_high_risk_threshold() -> None:
    assert high_risk([0.149, 0.15, np.nan, 0.9]).tolist() == [False, True, False, True]
