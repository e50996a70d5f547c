"""PLL settings and instances for the boards' clocks: iCE40 ``SB_PLL40_PAD``, ECP5 ``EHXPLLL``."""

from amaranth import Instance

__all__ = ["ice40_pll_settings", "ecp5_pll_settings", "ice40_pll", "ecp5_pll"]

MHZ = 1e6


def ice40_pll_settings(input_hz, target_hz):
    """``(divr, divf, divq, output_hz)`` of the iCE40 PLL closest to ``target_hz`` at or
    below it (SiliconBlue's limits: PFD 10-133 MHz, VCO 533-1066 MHz)."""
    best = None
    for divr in range(16):
        pfd = input_hz / (divr + 1)
        if not 10 * MHZ <= pfd <= 133 * MHZ:
            continue
        for divf in range(128):
            vco = pfd * (divf + 1)
            if not 533 * MHZ <= vco <= 1066 * MHZ:
                continue
            for divq in range(1, 7):
                out = vco / (1 << divq)
                if out <= target_hz and (best is None or out > best[3]):
                    best = (divr, divf, divq, out)
    if best is None:
        raise ValueError(f"iCE40 PLL cannot make {target_hz / MHZ:g} MHz from {input_hz / MHZ:g} MHz")
    return best


def ecp5_pll_settings(input_hz, target_hz):
    """``(clki_div, clkfb_div, clkop_div, output_hz)`` of the ECP5 PLL closest to ``target_hz``
    at or below it (feedback from CLKOP; PFD 3.125-400 MHz, VCO 400-800 MHz)."""
    best = None
    for clki_div in range(1, 129):
        pfd = input_hz / clki_div
        if not 3.125 * MHZ <= pfd <= 400 * MHZ:
            continue
        for clkfb_div in range(1, 81):
            out = pfd * clkfb_div
            if out > target_hz:
                break
            for clkop_div in range(1, 129):
                if 400 * MHZ <= out * clkop_div <= 800 * MHZ:
                    if best is None or out > best[3]:
                        best = (clki_div, clkfb_div, clkop_div, out)
                    break
    if best is None:
        raise ValueError(f"ECP5 PLL cannot make {target_hz / MHZ:g} MHz from {input_hz / MHZ:g} MHz")
    return best


def ice40_pll(pad, clock, locked, input_hz, target_hz):
    """An ``SB_PLL40_PAD`` from the clock pad ``pad`` to ``clock``; returns it and the output frequency."""
    divr, divf, divq, out = ice40_pll_settings(input_hz, target_hz)
    pll = Instance("SB_PLL40_PAD",
                   p_FEEDBACK_PATH="SIMPLE", p_DIVR=divr, p_DIVF=divf, p_DIVQ=divq,
                   p_FILTER_RANGE=1, i_PACKAGEPIN=pad, i_RESETB=1, i_BYPASS=0,
                   o_PLLOUTGLOBAL=clock, o_LOCK=locked)
    return pll, out


def ecp5_pll(clock_in, clock, locked, input_hz, target_hz):
    """An ``EHXPLLL`` from ``clock_in`` to ``clock``; returns it and the output frequency."""
    clki_div, clkfb_div, clkop_div, out = ecp5_pll_settings(input_hz, target_hz)
    pll = Instance("EHXPLLL",
                   a_FREQUENCY_PIN_CLKI=f"{input_hz / MHZ:g}", a_FREQUENCY_PIN_CLKOP=f"{out / MHZ:g}",
                   a_ICP_CURRENT="12", a_LPF_RESISTOR="8", a_MFG_ENABLE_FILTEROPAMP="1",
                   a_MFG_GMCREF_SEL="2",
                   p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
                   p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA", p_CLKOP_ENABLE="ENABLED",
                   p_CLKI_DIV=clki_div, p_CLKFB_DIV=clkfb_div, p_CLKOP_DIV=clkop_div,
                   p_CLKOP_CPHASE=clkop_div - 1, p_CLKOP_FPHASE=0, p_FEEDBK_PATH="CLKOP",
                   i_RST=0, i_STDBY=0, i_CLKI=clock_in, i_CLKFB=clock, i_PHASESEL0=0, i_PHASESEL1=0,
                   i_PHASEDIR=0, i_PHASESTEP=0, i_PHASELOADREG=0, i_PLLWAKESYNC=0, i_ENCLKOP=0,
                   o_CLKOP=clock, o_LOCK=locked)
    return pll, out
