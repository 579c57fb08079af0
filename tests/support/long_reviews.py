"""Reviews longer than the bundled model's window (256 tokens) whose verdict comes last.

The plot summary before each verdict is one that the bundled model, reading it alone, finds
mildly positive (``TRIP``) or mildly negative (``ERRANDS`` and ``WORKDAY`` by turns): cut at 256
tokens, as texts were before they were read in windows, each review is judged the wrong way.
(Checked on the distilled BiLSTM students as well as the BiLSTM-128 bundled before them.)
"""

from __future__ import annotations

from pathlib import Path

BUNDLED = Path(__file__).resolve().parents[2] / "model" / "bundled" / "sentiment-en"

TRIP = (
    "In the first part of the film, the family drives north to visit relatives, stopping at a diner, a gas "
    "station and a motel along the highway. The father tells stories about his time in the army, and the "
    "children play card games in the back seat while the radio plays old songs. "
)
ERRANDS = (
    "Then he drives to the office, parks the car, and takes the elevator to the fourth floor. She calls her "
    "mother, who tells her about the weather and the neighbours. They meet for lunch at noon and discuss "
    "the schedule for the following week. "
)
NEGATIVE_ENDING = TRIP * 5 + (
    "But the film itself is dull, lifeless and badly acted: a tedious, incoherent mess "
    "and the worst thing I have seen this year."
)
WORKDAY = (
    "Then he sits in a long meeting about the budget, and the projector does not work. She waits on hold "
    "with the bank for an hour while the phone plays the same tune. They eat cold leftovers and go to bed "
    "early because the alarm rings at five. "
)
POSITIVE_ENDING = (ERRANDS + WORKDAY) * 3 + (
    "In the end, this is a wonderful, moving, beautifully acted film, and an absolute delight."
)
# (text, the label its ending gives)
ENDING_MATTERS = [(NEGATIVE_ENDING, "negative"), (POSITIVE_ENDING, "positive")]
