"""Fixed units: every entry buys (or sells short) the same number of units.

units = ``units``, whatever the equity or the stop. The output is that constant per bar.
"""

from modules.base import Output, Param

from ._base import PositionSizingModule


class FixedUnits(PositionSizingModule):
    module_id = "fixed_units"
    name = "Fixed Units"
    description = "Trade the same number of units (shares, lots, coins) on every entry."
    sizing_basis = "units"
    params = (
        Param("units", "number", 1.0, title="Units", min=1e-9, max=1e12, step=1, key=True, help="Units per entry."),
    )
    outputs = (Output("units", "numeric", "Units per entry", primary=True),)

    def compute(self, data, config):
        return {"units": self.constant(len(data), config["units"])}
