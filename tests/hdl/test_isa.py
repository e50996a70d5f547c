"""The instruction set: encode/decode round trips, the step encoding against a brute-force
enumeration of the loop nest, instruction sizes, and every refusal with its full message."""

import dataclasses
import itertools
import re

import numpy as np
import pytest
from amaranth import Shape

from gen.compiler import element_addresses
from hdl.isa import (
    FUSED_ADD_FIELDS,
    MAX_REDUCE_LEVELS,
    PROGRAM_STEP_STREAMS,
    Instruction,
    Opcode,
    Stream,
    check_destinations,
    decode,
    encode,
    fetch_cycles,
    fetch_words,
    instruction_layout,
    instruction_words,
    steps,
    steps_row,
    stream_address_width,
    strides,
)
from hdl.params import (
    COUNT_WIDTH,
    LOOP_LEVELS,
    MAX_CORE_COLUMNS,
    MAX_CORE_ROWS,
    MAX_SHIFT,
    MIN_SHIFT,
    TOKENS,
    CoreParams,
    MacParams,
    Precision,
    Rounding,
)

PARAMS = [
    CoreParams(),
    CoreParams(activation_banks=2, activation_depth=2, weight_depth=2, settings_depth=2),
    CoreParams(MacParams(16, 16)),
    CoreParams(MacParams(4, 4), activation_banks=8, activation_depth=4096, weight_depth=2),
    CoreParams(MacParams(4, 4), count_width=5, tokens=4),
    CoreParams(narrow_program=True, program_steps=True),
    CoreParams(MacParams(4, 4), count_width=5, tokens=4, narrow_program=True, program_steps=True),
]

#: The streams that advance once per tile, over the levels outside the tile.
PER_TILE = ("o", "s", "r")


def exactly(message):
    return f"^{re.escape(message)}$"


def stream_levels(name, reduce_levels):
    return range(reduce_levels if name in PER_TILE else 0, LOOP_LEVELS)


def memory_size(params, opcode, name):
    """The addresses stream ``name`` may reach: its memory for a compute opcode, else its field."""
    if not opcode.streams:
        return 1 << stream_address_width(params, name)
    if name == "s":
        return params.settings_depth
    if name == "b" and opcode.multiplies:
        return params.weight_sram.size_bytes
    return params.activation_sram.size_bytes


def random_stream(rng, params, opcode, name, counts, reduce_levels):
    """A stream that stays in its memory and whose every step fits its field.

    The strides of levels that run more than once share the memory's span; a level that
    runs once never moves the address, so its stride is drawn through its step, which only
    has to fit the field.
    """
    size = memory_size(params, opcode, name)
    width = stream_address_width(params, name)
    # SEND moves whole words: draw its streams in words.
    unit = params.word_bytes if opcode == Opcode.SEND and name in "ao" else 1
    size, width = size // unit, width - (unit - 1).bit_length()
    result, low, high, carried = [0] * LOOP_LEVELS, 0, 0, 0
    for level in stream_levels(name, reduce_levels):
        count = counts[level]
        if count == 1:
            result[level] = int(rng.integers(-(1 << width), 1 << width)) + carried
        else:
            budget = (size - 1 - (high - low)) // (count - 1)
            if budget and rng.random() < 0.8:
                result[level] = int(rng.integers(-budget, budget + 1))
            extent = result[level] * (count - 1)
            low, high = low + min(extent, 0), high + max(extent, 0)
        carried += result[level] * (count - 1)
    base = int(rng.integers(-low, size - high))
    return Stream(base * unit, tuple(stride * unit for stride in result))


def random_count(rng, count_width):
    kind = rng.integers(4)
    if kind == 0:
        return 1
    if kind == 3:
        return int(rng.integers(1, (1 << count_width) + 1))
    return int(rng.integers(1, 9))


def random_instruction(rng, params):
    """A random instruction that ``encode`` must accept for ``params``."""
    opcode = Opcode(int(rng.integers(len(Opcode))))
    reduce_levels = 0 if opcode == Opcode.SEND else int(rng.integers(MAX_REDUCE_LEVELS + 1))
    counts = tuple(random_count(rng, params.count_width) for _ in range(LOOP_LEVELS))

    def signed8():
        return int(rng.integers(-128, 128))

    precision, out_precision = (Precision(int(rng.integers(len(Precision)))) for _ in range(2))

    def output():           # a compute opcode's zero point and clamps lie in the output's range
        if not opcode.computes:
            return signed8()
        return int(rng.integers(out_precision.min, out_precision.max + 1))

    def fused():            # MACADD's operand zero points and conv clamp lie in the output's range too
        return output() if opcode == Opcode.MACADD else signed8()

    def multiplier():
        return int(rng.integers(-(1 << 31), 1 << 31))

    def shift():
        return int(rng.integers(MIN_SHIFT, MAX_SHIFT + 1))

    return Instruction(
        opcode, precision, Rounding(int(rng.integers(len(Rounding)))),
        reduce_levels, int(rng.integers(params.tokens)), counts,
        **{name: random_stream(rng, params, opcode, name, counts, reduce_levels) for name in "abors"},
        zero_point=output(), clamp_min=output(), clamp_max=output(), a_zero_point=fused(),
        b_zero_point=fused(), a_multiplier=multiplier(), a_shift=shift(), b_multiplier=multiplier(),
        b_shift=shift(), out_precision=out_precision, mid_clamp_min=min(mids := (fused(), fused())),
        mid_clamp_max=max(mids), add_multiplier=multiplier(), add_shift=shift(), **destinations(rng))


def destinations(rng):
    """A random destination rectangle within the largest array."""
    x, y = int(rng.integers(MAX_CORE_COLUMNS)), int(rng.integers(MAX_CORE_ROWS))
    return {"dest_x": x, "dest_y": y, "dest_x_last": int(rng.integers(x, MAX_CORE_COLUMNS)),
            "dest_y_last": int(rng.integers(y, MAX_CORE_ROWS))}


@pytest.mark.parametrize("params", PARAMS, ids=range(len(PARAMS)))
@pytest.mark.parametrize("seed", range(8))
def test_encode_decode_round_trip(params, seed):
    rng = np.random.default_rng(seed)
    size = instruction_layout(params).size
    opcodes = set()
    for _ in range(100):
        instruction = random_instruction(rng, params)
        word = encode(instruction, params)
        assert 0 <= word < 1 << size, f"seed {seed}: {instruction}"
        assert decode(word, params) == instruction, f"seed {seed}: {instruction}"
        opcodes.add(instruction.opcode)
    assert opcodes == set(Opcode), f"seed {seed}"


def test_encode_decode_extremes():
    params = CoreParams()
    activation = params.activation_sram.size_bytes
    for instruction in [
        Instruction(Opcode.HALT),
        Instruction(Opcode.MAC, counts=(1 << COUNT_WIDTH,) * LOOP_LEVELS),
        Instruction(Opcode.ADD, a=Stream(activation - 1, (-1,)), counts=(4096,),
                    b=Stream(activation - 4096, (1,)), o=Stream(0, (0,) * 5 + (6,)),
                    a_multiplier=-(1 << 31), b_multiplier=(1 << 31) - 1, a_shift=MIN_SHIFT,
                    b_shift=MAX_SHIFT, zero_point=-128, clamp_min=127, clamp_max=-128),
        Instruction(Opcode.MAC, b=Stream(params.weight_sram.size_bytes - 1),
                    s=Stream(params.settings_depth - 1)),
        Instruction(Opcode.WAIT, token=TOKENS - 1,
                    a=Stream(0, ((1 << stream_address_width(params, "a")) - 1,))),
        Instruction(Opcode.SIGNAL, b=Stream(0, (-(1 << params.address_width),))),
    ]:
        assert decode(encode(instruction, params), params) == instruction, instruction


def test_out_precision():
    """``out_precision`` defaults to ``precision``, is encoded in its own field and survives
    a round trip; the other opcodes ignore the output clamp."""
    params = CoreParams()
    assert Instruction(Opcode.MAC, Precision.INT2, clamp_min=-2, clamp_max=1).out_precision == \
        Precision.INT2
    assert Instruction(Opcode.SIGNAL, Precision.INT4).out_precision == Precision.INT4
    for precision, out in itertools.product(Precision, Precision):
        instruction = Instruction(Opcode.MAC, precision, out_precision=out, zero_point=out.max,
                                  clamp_min=out.min, clamp_max=out.max)
        word = encode(instruction, params)
        assert decode(word, params) == instruction, instruction
        view = instruction_layout(params).from_bits(word)
        assert (Precision(view.precision), Precision(view.out_precision)) == (precision, out)


def nest(counts, levels):
    """Index tuples of the loop levels ``levels``, outermost level first, in issue order."""
    outer_first = list(reversed(levels))
    return outer_first, list(itertools.product(*(range(counts[level]) for level in outer_first)))


def test_steps_by_hand():
    # Two levels: 3 elements 1 apart, then the next row 10 on: 0 1 2 10 11 12. A level that
    # runs once starts again from the nest's first address: its step undoes what it carries.
    assert steps((1, 10, 0, 0, 0, 0), (3, 2, 1, 1, 1, 1), range(LOOP_LEVELS)) == \
        (1, 8, -12, -12, -12, -12)
    # A per-tile stream skips the reduction levels: their strides and steps are 0.
    assert steps((5, 7, 4, 100, 0, 0), (2, 2, 3, 2, 1, 1), range(2, LOOP_LEVELS)) == \
        (0, 0, 4, 92, -108, -108)
    assert strides((0, 0, 4, 92, -108, -108), (2, 2, 3, 2, 1, 1), range(2, LOOP_LEVELS)) == \
        (0, 0, 4, 100, 0, 0)


@pytest.mark.parametrize("seed", range(10))
def test_steps_match_enumeration(seed):
    rng = np.random.default_rng(seed)
    transitions = 0
    for _ in range(30):
        counts = tuple(int(count) for count in rng.integers(1, 4, LOOP_LEVELS))
        stride_values = tuple(int(stride) for stride in rng.integers(-50, 51, LOOP_LEVELS))
        first = int(rng.integers(MAX_REDUCE_LEVELS + 1))
        levels = range(first, LOOP_LEVELS)
        encoded = steps(stride_values, counts, levels)
        context = f"seed {seed}: counts {counts}, strides {stride_values}, levels from {first}"
        assert all(encoded[level] == 0 for level in range(first)), context
        outer_first, indices = nest(counts, levels)

        def address(index):
            return sum(stride_values[level] * i for level, i in zip(outer_first, index))

        for previous, current in zip(indices, indices[1:]):
            position = next(p for p, (x, y) in enumerate(zip(previous, current)) if x != y)
            level = outer_first[position]
            assert address(current) - address(previous) == encoded[level], \
                f"{context}: from {previous} to {current}"
            transitions += 1
        expected = tuple(stride if level >= first else 0 for level, stride in enumerate(stride_values))
        assert strides(encoded, counts, levels) == expected, context
        if first == 0:
            # The compiler's enumerator visits the same addresses in the same order.
            instruction = Instruction(Opcode.ADD, counts=counts, a=Stream(1000, stride_values))
            assert list(element_addresses(instruction, "a")) == \
                [1000 + address(index) for index in indices], context
    assert transitions > 0, f"seed {seed}"


#: A core without the fused add: its instructions leave out MACADD's fields.
UNFUSED = CoreParams(MacParams(4, 4), fused_add=False)


@pytest.mark.parametrize("params, address_width, activation_width, settings_width, words", [
    (PARAMS[0], 16, 15, 6, 13),     # 32 KB of activations, 64 KB of weights
    (PARAMS[1], 7, 5, 1, 8),        # 32 bytes of activations, 128 bytes of weights
    (PARAMS[2], 18, 16, 6, 7),
    (PARAMS[3], 17, 17, 6, 26),     # 128 KB of activations, 32 bytes of weights
    (UNFUSED, 14, 14, 6, 19),
])
def test_instruction_words(params, address_width, activation_width, settings_width, words):
    assert (params.address_width, params.activation_address_width, params.settings_width) == \
        (address_width, activation_width, settings_width)
    fused = params.fused_add

    def stream(width):      # base, then a signed step one bit wider per level
        return width + LOOP_LEVELS * (width + 1)

    bits = (4 + 2 + 2 + 1 + 2 + 4                  # opcode, precisions in and out, rounding,
                                                   # reduce, token
            + 2 * (5 + 5)                          # destination columns and rows
            + LOOP_LEVELS * COUNT_WIDTH            # counts
            + stream(address_width)                # b: weights, or an ADD's activations
            + (3 if fused else 2) * stream(activation_width)    # a, o and MACADD's r: activations
            + stream(settings_width)
            + (7 if fused else 5) * 8              # zero points and clamps (output and MACADD's conv)
            + (3 if fused else 2) * (32 + 6))      # add multipliers and shifts (MACADD's output too)
    assert instruction_layout(params).size == bits
    assert instruction_words(params) == words == -(-bits // (8 * params.word_bytes))
    assert [stream_address_width(params, name) for name in "abosr"] == \
        [activation_width, address_width, activation_width, settings_width, activation_width]


@pytest.mark.parametrize("kwargs, message", [
    ({"counts": (1, 1, 0)}, "count of loop level 2 must lie in [1, 4096], not 0"),
    ({"counts": (4097,)}, "count of loop level 0 must lie in [1, 4096], not 4097"),
    ({"counts": (2,) * 7}, "counts must be at most 6 loop counts, not (2, 2, 2, 2, 2, 2, 2)"),
    ({"counts": (1.0,)}, "count of loop level 0 must lie in [1, 4096], not 1.0"),
    ({"reduce_levels": 4}, "reduce_levels must lie in [0, 3], not 4"),
    ({"reduce_levels": -1}, "reduce_levels must lie in [0, 3], not -1"),
    ({"token": 16}, "token must lie in [0, 15], not 16"),
    ({"token": -1}, "token must lie in [0, 15], not -1"),
    ({"token": "3"}, "token must lie in [0, 15], not '3'"),
    ({"reduce_levels": True}, "reduce_levels must lie in [0, 3], not True"),
    ({"zero_point": 128}, "zero_point must be an integer in [-128, 127], not 128"),
    ({"clamp_min": -129}, "clamp_min must be an integer in [-128, 127], not -129"),
    ({"clamp_max": 128}, "clamp_max must be an integer in [-128, 127], not 128"),
    ({"a_zero_point": 128}, "a_zero_point must be an integer in [-128, 127], not 128"),
    ({"b_zero_point": True}, "b_zero_point must be an integer in [-128, 127], not True"),
    ({"a_multiplier": 1 << 31},
     "a_multiplier must be an integer in [-2147483648, 2147483647], not 2147483648"),
    ({"b_multiplier": -(1 << 31) - 1},
     "b_multiplier must be an integer in [-2147483648, 2147483647], not -2147483649"),
    ({"a_shift": 31}, "a_shift must be an integer in [-31, 30], not 31"),
    ({"b_shift": -32}, "b_shift must be an integer in [-31, 30], not -32"),
    ({"reduce_levels": 2, "o": Stream(0, (0, 8))},
     "stream o advances per tile: its strides of the 2 reduction levels must be 0, "
     "not (0, 8, 0, 0, 0, 0)"),
    ({"reduce_levels": 3, "s": Stream(0, (0, 0, 1, 1))},
     "stream s advances per tile: its strides of the 3 reduction levels must be 0, "
     "not (0, 0, 1, 1, 0, 0)"),
    ({"opcode": 10}, "10 is not a valid Opcode"),
    ({"opcode": Opcode.SEND, "reduce_levels": 1}, "SEND has no reduction: reduce_levels must be 0, not 1"),
    ({"dest_x": 32}, "dest_x must lie in [0, 31], not 32"),
    ({"dest_y": -1}, "dest_y must lie in [0, 31], not -1"),
    ({"dest_x": 3, "dest_x_last": 2}, "dest_x_last must lie in [dest_x = 3, 31], not 2"),
    ({"dest_y_last": 32}, "dest_y_last must lie in [dest_y = 0, 31], not 32"),
    ({"dest_y_last": 1.0}, "dest_y_last must lie in [dest_y = 0, 31], not 1.0"),
    ({"precision": 3}, "3 is not a valid Precision"),
    ({"out_precision": 3}, "3 is not a valid Precision"),
    ({"out_precision": Precision.INT4, "zero_point": 8},
     "zero_point must lie in [-8, 7] of out_precision int4, not 8"),
    ({"out_precision": Precision.INT2, "clamp_min": -3, "clamp_max": 1},
     "clamp_min must lie in [-2, 1] of out_precision int2, not -3"),
    # An int4 result keeps the int8 default clamp: refused, whatever the operands' precision.
    ({"precision": Precision.INT4}, "clamp_min must lie in [-8, 7] of out_precision int4, not -128"),
    ({"opcode": Opcode.ADD, "out_precision": Precision.INT4, "clamp_min": -8},
     "clamp_max must lie in [-8, 7] of out_precision int4, not 127"),
    # MACADD's conv output, residual and result share out_precision.
    ({"opcode": Opcode.MACADD, "out_precision": Precision.INT4, "clamp_min": -8, "clamp_max": 7,
      "b_zero_point": 9}, "b_zero_point must lie in [-8, 7] of out_precision int4, not 9"),
    ({"opcode": Opcode.MACADD, "out_precision": Precision.INT4, "clamp_min": -8, "clamp_max": 7,
      "mid_clamp_min": -8, "mid_clamp_max": 7, "a_zero_point": -9},
     "a_zero_point must lie in [-8, 7] of out_precision int4, not -9"),
    ({"opcode": Opcode.MACADD, "mid_clamp_min": 5, "mid_clamp_max": -5},
     "mid_clamp_min must be at most mid_clamp_max = -5, not 5"),
    ({"opcode": Opcode.MACADD, "reduce_levels": 1, "counts": (2, 2), "r": Stream(0, (8, 8))},
     "stream r advances per tile: its strides of the 1 reduction levels must be 0, "
     "not (8, 8, 0, 0, 0, 0)"),
])
def test_instruction_wrong(kwargs, message):
    kwargs = {"opcode": Opcode.MAC, **kwargs}
    with pytest.raises(ValueError, match=exactly(message)):
        Instruction(**kwargs)


@pytest.mark.parametrize("kwargs, message", [
    ({"base": -1}, "stream base must be a non-negative integer, not -1"),
    ({"base": 1.5}, "stream base must be a non-negative integer, not 1.5"),
    ({"strides": (1,) * 7}, "stream strides must be at most 6 integers, not (1, 1, 1, 1, 1, 1, 1)"),
    ({"strides": (1.5,)}, "stream strides must be at most 6 integers, not (1.5,)"),
    ({"strides": (True,)}, "stream strides must be at most 6 integers, not (True,)"),
])
def test_stream_wrong(kwargs, message):
    with pytest.raises(ValueError, match=exactly(message)):
        Stream(**kwargs)


@pytest.mark.parametrize("kwargs, message", [
    ({"opcode": Opcode.MAC, "counts": (2,), "a": Stream(32760, (8,))},
     "stream a of MAC reaches addresses 32760 to 32768, outside its memory of 32768"),
    ({"opcode": Opcode.ADD, "counts": (2,), "a": Stream(8, (-16,))},
     "stream a of ADD reaches addresses -8 to 8, outside its memory of 32768"),
    ({"opcode": Opcode.MAC, "counts": (2,), "b": Stream(65472, (64,))},
     "stream b of MAC reaches addresses 65472 to 65536, outside its memory of 65536"),
    ({"opcode": Opcode.ADD, "b": Stream(40000)},      # MAC's weight SRAM holds 40000; not here
     "stream b of ADD reaches addresses 40000 to 40000, outside its memory of 32768"),
    ({"opcode": Opcode.MAXPOOL, "reduce_levels": 1, "counts": (3, 5), "o": Stream(32000, (0, 200))},
     "stream o of MAXPOOL reaches addresses 32000 to 32800, outside its memory of 32768"),
    ({"opcode": Opcode.AVGPOOL, "s": Stream(64)},
     "stream s of AVGPOOL reaches addresses 64 to 64, outside its memory of 64"),
    # A fused add's residual must lie in the activation SRAM.
    ({"opcode": Opcode.MACADD, "reduce_levels": 1, "counts": (1, 3), "r": Stream(32760, (0, 8))},
     "stream r of MACADD reaches addresses 32760 to 32776, outside its memory of 32768"),
    ({"opcode": Opcode.MAC, "a": Stream(0, (32768,))}, "stream a step 32768 does not fit 16 bits"),
    ({"opcode": Opcode.HALT, "b": Stream(0, (0, -65537))}, "stream b step -65537 does not fit 17 bits"),
    ({"opcode": Opcode.SIGNAL, "s": Stream(0, (0,) * 5 + (64,))}, "stream s step 64 does not fit 7 bits"),
])
def test_encode_wrong(kwargs, message):
    with pytest.raises(ValueError, match=exactly(message)):
        encode(Instruction(**kwargs), CoreParams())


def test_encode_checks_steps_not_strides():
    # The step of level 1 is its stride less what level 0 carried (3 * 8 or 3 * -8).
    params = CoreParams()
    fits = Instruction(Opcode.MAC, counts=(4, 1), b=Stream(24, (-8, -65540)))
    assert decode(encode(fits, params), params) == fits
    too_far = Instruction(Opcode.MAC, counts=(4, 1), b=Stream(0, (8, 65560)))
    with pytest.raises(ValueError, match=exactly("stream b step 65536 does not fit 17 bits")):
        encode(too_far, params)


def test_encode_refuses_precisions_the_mac_array_lacks():
    """A core whose MAC array multiplies at int8 only takes int8 MACs and every vector
    instruction, and refuses an int4 MAC or MACADD naming the precisions it has."""
    params = CoreParams(MacParams(precisions=(Precision.INT8,)))
    int4 = {"precision": Precision.INT4, "clamp_min": -8, "clamp_max": 7, "mid_clamp_min": -8,
            "mid_clamp_max": 7}
    for instruction in (Instruction(Opcode.MAC), Instruction(Opcode.ADD, **int4)):
        assert decode(encode(instruction, params), params) == instruction
    for opcode in (Opcode.MAC, Opcode.MACADD):
        with pytest.raises(ValueError, match=exactly(f"{opcode.name} at int4: the core's MAC array "
                                                     f"multiplies at int8 only")):
            encode(Instruction(opcode, **int4), params)


def test_encode_without_fused_add():
    """A core without the fused add encodes every other instruction exactly, and refuses a
    ``MACADD`` saying why."""
    rng = np.random.default_rng(0)
    opcodes = set()
    while opcodes != set(Opcode) - {Opcode.MACADD}:
        instruction = random_instruction(rng, UNFUSED)
        if instruction.opcode == Opcode.MACADD:
            with pytest.raises(ValueError, match=exactly("MACADD: the core has no fused add "
                                                         "(CoreParams.fused_add)")):
                encode(instruction, UNFUSED)
            continue
        # MACADD's fields are not in the word: they decode to their defaults.
        instruction = dataclasses.replace(instruction, **{name: getattr(Instruction(Opcode.HALT), name)
                                                          for name in FUSED_ADD_FIELDS})
        assert decode(encode(instruction, UNFUSED), UNFUSED) == instruction, instruction
        opcodes.add(instruction.opcode)


def test_encode_int2_on_two_columns():
    """A core of 2 columns encodes every compute instruction at int8 and int4, and refuses one
    that reads or writes int2 values (a tile of them is half a byte)."""
    params = CoreParams(MacParams(4, 2))
    message = exactly("{} at int2: a tile of the core's 2 columns is 4 bits of int2 values, and the SRAM "
                      "reads and writes whole bytes (int2 needs 4 columns)")

    def instruction(opcode, precision, out):      # clamps within the output's range
        return Instruction(opcode, precision, out_precision=out, clamp_min=out.min, clamp_max=out.max,
                           mid_clamp_min=out.min, mid_clamp_max=out.max)

    for opcode in (Opcode.MAC, Opcode.MACADD, Opcode.ADD, Opcode.MAXPOOL, Opcode.AVGPOOL):
        for precision, out in itertools.product((Precision.INT8, Precision.INT4), repeat=2):
            accepted = instruction(opcode, precision, out)
            assert decode(encode(accepted, params), params) == accepted
        for precision, out in ((Precision.INT2, Precision.INT8), (Precision.INT8, Precision.INT2)):
            with pytest.raises(ValueError, match=message.replace("\\{\\}", opcode.name)):
                encode(instruction(opcode, precision, out), params)


def test_encode_counts_and_tokens_of_the_core():
    """A core's loops count to ``2**count_width`` and it counts ``tokens`` tokens: its
    instructions take up to those, and a count or a token beyond them is refused, naming
    the level or the token and the core's limit."""
    params = CoreParams(MacParams(4, 4), count_width=5, tokens=4)
    assert instruction_layout(params).members["counts"].elem_shape.width == 5
    assert instruction_layout(params).members["token"].width == 2
    for instruction in (Instruction(Opcode.DELAY, counts=(32,)), Instruction(Opcode.WAIT, token=3)):
        assert decode(encode(instruction, params), params) == instruction
    with pytest.raises(ValueError, match=exactly("MAC: count 33 of loop level 2 is more than the core's "
                                                 "loops run (32, count_width 5)")):
        encode(Instruction(Opcode.MAC, counts=(1, 1, 33)), params)
    with pytest.raises(ValueError, match=exactly("SIGNAL: token 4 is not one of the core's 4")):
        encode(Instruction(Opcode.SIGNAL, token=4), params)


def test_encode_params_wrong():
    with pytest.raises(TypeError, match=exactly("params must be a CoreParams, not 8")):
        encode(Instruction(Opcode.HALT), 8)


def test_encode_base_outside_field():
    params = CoreParams()
    instruction = Instruction(Opcode.HALT, a=Stream(1 << params.activation_address_width))
    width = params.activation_address_width
    with pytest.raises(ValueError, match=rf"^stream a base {1 << width} does not fit {width} bits$"):
        encode(instruction, params)


def test_destination_rectangle():
    unicast = Instruction(Opcode.SIGNAL, dest_x=2, dest_y=1)
    assert (unicast.dest_x_last, unicast.dest_y_last) == (2, 1)
    assert unicast.destinations == [(2, 1)]
    multicast = Instruction(Opcode.SEND, dest_x=1, dest_y=0, dest_x_last=2, dest_y_last=1)
    assert multicast.destinations == [(1, 0), (2, 0), (1, 1), (2, 1)]
    check_destinations(multicast, 2, 3)


@pytest.mark.parametrize("kwargs, rows, columns, message", [
    ({"dest_x_last": 4}, 4, 4, "SEND dest_x_last must be at most 3 in a 4x4 array, not 4"),
    ({"dest_y": 2}, 2, 8, "SEND dest_y_last must be at most 1 in a 2x8 array, not 2"),
    ({}, 1, 1, "SEND has no destination in a 1x1 array: its core is the only one"),
])
def test_check_destinations_wrong(kwargs, rows, columns, message):
    with pytest.raises(ValueError, match=exactly(message)):
        check_destinations(Instruction(Opcode.SEND, **kwargs), rows, columns)
    check_destinations(Instruction(Opcode.MAC), 1, 1)      # no message: nothing to check


@pytest.mark.parametrize("params", [params for params in PARAMS if params.program_steps],
                         ids=["8-lanes", "4-lanes"])
def test_program_steps_layout(params):
    """With ``program_steps`` every other field lies in the rows a fetch reads, and level
    ``l``'s steps of streams a and b in row ``steps_row + l``, a's below b's."""
    layout, word = instruction_layout(params), 8 * params.word_bytes
    row = steps_row(params)
    assert fetch_words(params) == row and fetch_cycles(params) == row + 1
    assert instruction_words(params) == row + LOOP_LEVELS
    placed = []
    for name, field in layout:
        if name in PROGRAM_STEP_STREAMS:
            base = field.shape["base"]
            placed.append((field.offset + base.offset, Shape.cast(base.shape).width))
        else:
            placed.append((field.offset, Shape.cast(field.shape).width))
    assert all(offset + width <= row * word for offset, width in placed), placed
    for level in range(LOOP_LEVELS):
        bits = []
        for name in PROGRAM_STEP_STREAMS:
            steps_field = layout[name].shape["steps"]
            step = steps_field.shape[level]
            offset = layout[name].offset + steps_field.offset + step.offset
            bits.append((offset, Shape.cast(step.shape).width))
        (a_offset, a_width), (b_offset, b_width) = bits
        assert a_offset == (row + level) * word and b_offset == a_offset + a_width, bits
        assert b_offset + b_width <= (row + level + 1) * word, bits


def test_program_steps_must_fit_a_word():
    params = CoreParams(MacParams(4, 4), activation_banks=8, activation_depth=4096, narrow_program=True,
                        program_steps=True)
    with pytest.raises(ValueError, match=r"^core program_steps: a level's steps of streams a and b "
                                         r"\(18 \+ 18 bits\) must fit one program word of 32 bits$"):
        instruction_layout(params)
