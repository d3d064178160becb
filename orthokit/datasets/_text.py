"""Short generated biographies: a text task with a protected attribute (gender)."""

from numbers import Integral, Real

import numpy as np
import pandas as pd

from orthokit._sklearn import Interval, validate_params

_FEMALE = [
    "Mary", "Anna", "Emma", "Olivia", "Sophia", "Laura", "Grace", "Chloe", "Julia",
    "Alice", "Hannah", "Sarah", "Emily", "Maria", "Lucy", "Rachel", "Nora", "Clara",
]  # fmt: skip
_MALE = [
    "James", "John", "David", "Michael", "Thomas", "Daniel", "Peter", "Mark", "Paul",
    "Robert", "George", "Henry", "Samuel", "Jacob", "Lucas", "Adam", "Oliver", "Ben",
]  # fmt: skip
_OCCUPATIONS = {  # occupation: (healthcare?, focus areas)
    "nurse": (1, ["patient care", "emergency wards", "paediatrics"]),
    "surgeon": (1, ["cardiac operations", "trauma surgery", "orthopaedics"]),
    "dentist": (1, ["oral health", "orthodontics", "dental implants"]),
    "dietitian": (1, ["clinical nutrition", "diabetes care", "sports diets"]),
    "software engineer": (0, ["distributed systems", "mobile apps", "databases"]),
    "architect": (0, ["public buildings", "urban housing", "restoration"]),
    "lawyer": (0, ["contract law", "family law", "tax disputes"]),
    "accountant": (0, ["audits", "corporate tax", "payroll"]),
}
_CITIES = ["Boston", "Denver", "Leeds", "Dublin", "Toronto", "Austin", "Perth", "Oslo"]
_TEMPLATES = [
    "{name} is {a_job} in {city}. {He} has {years} years of experience and {his} "
    "work focuses on {focus}.",
    "{name} works as {a_job} in {city}, where {he} specialises in {focus}.",
    "After {years} years as {a_job}, {name} now leads a team in {city}; {his} "
    "interests include {focus}.",
    "Based in {city}, {name} has been {a_job} for {years} years. {He} is known for "
    "{his} work on {focus}.",
]


@validate_params(
    {
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "association": [Interval(Real, 0, 1, closed="both")],
        "random_state": ["random_state", np.random.Generator],
    },
    prefer_skip_nested_validation=True,
)
def make_biographies(n_samples=2000, *, association=0.75, random_state=0):
    """Generate short biographies with a gender attribute and an occupation task.

    Each text names a person (a gendered first name and pronouns), an
    occupation, a city and a focus area. The task ``healthcare`` is whether
    the occupation is in health care; gender is associated with it (women are
    more often in health care with probability ``association``), so a model of
    the task can lean on gender, and embeddings of the texts encode it.

    Parameters
    ----------
    n_samples : int, default=2000
    association : float, default=0.75
        Probability that a person's gender matches the one associated with the
        occupation group (0.5: no association).
    random_state : int, default=0

    Returns
    -------
    DataFrame
        Columns ``text``, ``gender`` (``"female"``/``"male"``), ``occupation``
        and ``healthcare`` (0/1).

    Examples
    --------
    >>> from orthokit.datasets import make_biographies
    >>> bios = make_biographies(4, random_state=1)
    >>> list(bios.columns)
    ['text', 'gender', 'occupation', 'healthcare']
    """
    if not 0 <= association <= 1:
        raise ValueError(f"association must be in [0, 1], got {association}.")
    rng = np.random.default_rng(random_state)
    jobs = list(_OCCUPATIONS)
    rows = []
    for _ in range(n_samples):
        job = jobs[rng.integers(len(jobs))]
        healthcare, focus_areas = _OCCUPATIONS[job]
        female = bool(healthcare) == (rng.random() < association)
        name = rng.choice(_FEMALE if female else _MALE)
        he, his = ("she", "her") if female else ("he", "his")
        text = rng.choice(_TEMPLATES).format(
            name=name,
            job=job,
            a_job=("an " if job[0] in "aeiou" else "a ") + job,
            city=rng.choice(_CITIES),
            years=int(rng.integers(2, 30)),
            focus=rng.choice(focus_areas),
            he=he,
            his=his,
            He=he.capitalize(),
        )
        rows.append((text, "female" if female else "male", job, healthcare))
    return pd.DataFrame(rows, columns=["text", "gender", "occupation", "healthcare"])
