"""Argument checks that name the parameter, its value and what would be valid (SB3 itself accepts most of these)."""

import numbers


def check_int(name: str, value, low: int, allowed: tuple[int, ...] = ()) -> int:
    """
    :return: ``value`` if it is an int >= ``low`` (or one of ``allowed``), else a ValueError that says so.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or (value < low and value not in allowed):
        also = "".join(f" or {a}" for a in allowed)
        raise ValueError(f"{name} must be an int >= {low}{also}, got {value!r}")
    return int(value)


def check_number(name: str, value, low: float, high: float, low_open: bool = False, high_open: bool = False) -> float:
    """
    :return: ``value`` if it is a real number in the interval (``low_open``/``high_open`` exclude the ends), else a
        ValueError that names the interval.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {value!r}")
    above = value > low if low_open else value >= low
    below = value < high if high_open else value <= high
    if not (above and below):
        interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        raise ValueError(f"{name} must be in {interval}, got {value!r}")
    return float(value)


def check_train_freq(value) -> None:
    """``train_freq``: an int >= 1 or a tuple (n >= 1, "step" | "episode"), as SB3's off-policy algorithms take it."""
    if isinstance(value, tuple):
        if len(value) != 2 or value[1] not in ("step", "episode"):
            raise ValueError(f'train_freq must be an int >= 1 or a tuple (n, "step" | "episode"), got {value!r}')
        value = value[0]
    check_int("train_freq", value, 1)


def check_net_arch(value) -> None:
    """``net_arch`` of ARQ's policy: None (the default) or a non-empty list of positive ints, one width per cell."""
    if value is None:
        return
    valid = "a list of ints, one width per cell, bottom to top (e.g. net_arch=[64, 64] for two cells of width 64)"
    if isinstance(value, dict):
        raise ValueError(
            f"net_arch must be {valid}, got the dict {value!r}: ARQ has one stack of cells that acts and learns, not "
            "separate networks as SB3's dict(pi=..., qf=...) or dict(pi=..., vf=...) describe"
        )
    widths = list(value) if isinstance(value, (list, tuple)) else None
    if not widths or not all(isinstance(w, numbers.Integral) and not isinstance(w, bool) and w > 0 for w in widths):
        raise ValueError(f"net_arch must be {valid}, got {value!r}")
