"""Assembler and disassembler: the human form of the core's instruction set.

:mod:`hdl.isa` defines the instructions (:class:`~hdl.isa.Instruction`) and their binary
encoding; this module defines their text. :func:`assemble` turns text into instructions,
:func:`disassemble` turns instructions into text, and :func:`assemble_words` /
:func:`disassemble_words` go on to and from instruction words (integers, through
:func:`hdl.isa.encode` and :func:`hdl.isa.decode`) for a core's :class:`~hdl.params.CoreParams`.

Syntax
------
One instruction per line, lines numbered from 1. ``#`` starts a comment that runs to the
end of the line; blank and comment-only lines are skipped. A line is an opcode followed
by operands separated by whitespace (an operand holds no whitespace)::

    # 3x3 convolution, 8x8 outputs of 8 channels: each tile is the kernel window
    mac int8 reduce=3 counts=1,3,3,8,8 a=0x200+[8,8,80,8,80] b=0x40+[64,64,192] o=0x520+[0,0,0,8,64] s=1
    # a 1x1 convolution reading int8, writing int4 (requantized, clamped and packed at int4)
    mac int8 out=int4 reduce=1 counts=1,8,8 a=0x200+[8,8,80] b=0x40 o=0x520+[0,4,32] s=1 clamp=-8..7
    add int2 counts=4,8,8 a=0x720+[2,8,64] b=0x928+[2,8,64] o=0xb28+[2,8,64] s=10 zp=-1 clamp=-1..1 a_zp=-1
    maxpool int8 reduce=2 counts=3,3,4,4 a=0+[64,640,128,1280] o=0x1900+[0,0,64,256] s=3 clamp=-128..-1
    send counts=8,2 a=0x40+[8,64] o=0x440+[8,64] dest_x=1
    signal 3 dest_x=1
    signal 4 dest_x_last=3 dest_y_last=1
    wait 3
    delay counts=12
    halt

Opcodes are written in lower case: ``halt``, ``mac``, ``add``, ``maxpool``, ``avgpool``,
``signal``, ``wait``, ``send``, ``delay``, ``macadd`` (see :class:`hdl.isa.Opcode` for what
each does). Operands may come
in any order, each at most once; any field may be given on any opcode (the hardware
ignores what an opcode does not use, but the instruction word holds it, so the text does
too). A field left out keeps its default, the :class:`~hdl.isa.Instruction` default.

==================  =====================  =================================================
operand             field                  value (default)
==================  =====================  =================================================
``PRECISION``       ``precision``          ``int8``, ``int4`` or ``int2``: operands are read
                                           at it (``int8``)
``out=PRECISION``   ``out_precision``      results are requantized, clamped and packed at
                                           it (the precision)
``TOKEN``           ``token``              ``signal`` and ``wait`` only, and required there:
                                           the token, a bare integer
``token=N``         ``token``              the same, on any opcode (0)
``reduce=N``        ``reduce_levels``      innermost loop levels forming one tile (0)
``counts=C,...``    ``counts``             loop counts, innermost level first; levels left
                                           out count 1 (all 1)
``a=STREAM``        ``a``                  operand a address stream (``0``)
``b=STREAM``        ``b``                  operand b or weight-tile address stream (``0``)
``o=STREAM``        ``o``                  write-back address stream (``0``)
``s=STREAM``        ``s``                  settings-entry stream (``0``)
``zp=N``            ``zero_point``         output zero point (0)
``clamp=LO..HI``    ``clamp_min``,         output clamp, both ends inclusive (``-128..127``);
                    ``clamp_max``          LO at most HI on a compute opcode
``rounding=R``      ``rounding``           ``double`` or ``single`` (``double``)
``a_zp=N``          ``a_zero_point``       ``add``'s operand a zero point (0)
``a_mul=N``         ``a_multiplier``       ``add``'s operand a multiplier (0)
``a_shift=N``       ``a_shift``            ``add``'s operand a shift (0)
``b_zp=N``          ``b_zero_point``       as for a (0)
``b_mul=N``         ``b_multiplier``       as for a (0)
``b_shift=N``       ``b_shift``            as for a (0)
``r=STREAM``        ``r``                  ``macadd``'s residual address stream (``0``)
``mid_clamp=LO..HI``  ``mid_clamp_min``,   ``macadd``'s clamp of the conv's output
                    ``mid_clamp_max``      (``-128..127``)
``add_mul=N``       ``add_multiplier``     ``macadd``'s output multiplier (0)
``add_shift=N``     ``add_shift``          ``macadd``'s output shift (0)
``dest_x=N``        ``dest_x``             ``send`` and ``signal``'s destination core's
                                           column (0)
``dest_y=N``        ``dest_y``             and row (0)
``dest_x_last=N``   ``dest_x_last``        a multicast's last column (``dest_x``)
``dest_y_last=N``   ``dest_y_last``        and last row (``dest_y``): the message reaches
                                           every core of the rectangle
==================  =====================  =================================================

Integers are decimal (``12``, ``-3``), hexadecimal (``0x1f``, ``-0x10``) or binary
(``0b101``), with an optional leading minus and no other sign or separator. A
``STREAM`` is ``BASE+[STRIDE,...]``: the base address and the strides of the loop levels,
innermost first; levels left out have stride 0, and ``BASE`` alone (or ``BASE+[]``)
means all strides are 0. Strides are the change of address per step of their level, as
in :class:`hdl.isa.Stream`, not the encoded steps.

Canonical form
--------------
:func:`disassemble` writes one line per instruction, each ending in a newline, in one
canonical form, so that ``disassemble(assemble(text))`` is the same for every spelling
of a program and ``assemble(disassemble(program)) == tuple(program)`` for every program
whose compute instructions clamp in order:

- the opcode, then the precision (always for a compute opcode, otherwise only if not
  ``int8``), then the bare token for ``signal`` and ``wait`` (always);
- then ``out`` if the output precision differs from the precision;
- then, only if not at their defaults and in this order: ``reduce``, ``counts``, ``a``,
  ``b``, ``o``, ``s``, ``r``, ``zp``, ``clamp``, ``rounding``, ``a_zp``, ``a_mul``,
  ``a_shift``, ``b_zp``, ``b_mul``, ``b_shift``, ``mid_clamp``, ``add_mul``, ``add_shift``,
  ``token`` (opcodes other than
  ``signal`` and ``wait``), ``dest_x``, ``dest_y``, then ``dest_x_last`` and
  ``dest_y_last`` where they differ from ``dest_x`` and ``dest_y``;
- counts without their trailing 1s, strides without their trailing 0s (a stream whose
  strides are all 0 is its base alone); the bases of ``a``, ``b`` and ``o`` (byte
  addresses) in lower-case hexadecimal, ``0`` as ``0``; every other integer in decimal.

Errors
------
A malformed line raises ``ValueError`` with one sentence naming the line, the offending
token and what was expected, such as ``line 3: unknown opcode 'mul'; expected one of halt,
mac, add, maxpool, avgpool, signal, wait, send, delay, macadd``. A well-formed value out of range is refused
by :class:`~hdl.isa.Instruction` (or :class:`~hdl.isa.Stream`, or :func:`hdl.isa.encode`
for what depends on the core's memories), whose message is prefixed with the line
number: ``line 2: token must lie in [0, 15], not 16``. :func:`disassemble_words` refuses
a word wider than the instruction or encoding no instruction (opcode 10, precision 3, a
shift of -32 or 31) with its index: ``instruction 3: 9 is not a valid Opcode``.

Command line
------------
::

    python -m gen.asm asm FILE [--lanes 8 --columns 8 --activation-banks 4 ...]
    python -m gen.asm dis FILE [--lanes 8 ...]

``asm`` prints the instruction word of every instruction of the program in ``FILE`` (``-``
for standard input), one a line, in lower-case hexadecimal without prefix, zero-padded to
the width of :func:`hdl.isa.instruction_layout`. ``dis`` reads such a file (one
hexadecimal word a line, an optional ``0x``, ``#`` comments and blank lines allowed) and
prints the program in canonical form. The options give the core's
:class:`~hdl.params.CoreParams` (the defaults are its defaults). A bad option exits with
status 2, bad input with status 1, each with one line on standard error.
"""

import argparse
import dataclasses
import re
import sys

from gen.entry import command
from hdl.isa import Instruction, Opcode, Stream, decode, encode, instruction_layout
from hdl.params import CoreParams, MacParams, Precision, Rounding

__all__ = ["assemble", "disassemble", "assemble_words", "disassemble_words", "main"]

#: Opcodes by mnemonic, in encoding order.
MNEMONICS = {opcode.name.lower(): opcode for opcode in Opcode}
#: Precisions by operand.
PRECISIONS = {f"int{precision.bits}": precision for precision in Precision}
#: Rounding variants by name.
ROUNDINGS = {rounding.name.lower(): rounding for rounding in Rounding}

#: Opcodes whose token is a bare operand.
_TOKEN_OPCODES = (Opcode.SIGNAL, Opcode.WAIT)
#: Integer fields: operand name to :class:`~hdl.isa.Instruction` attribute.
_SCALARS = {"reduce": "reduce_levels", "zp": "zero_point", "a_zp": "a_zero_point",
            "a_mul": "a_multiplier", "a_shift": "a_shift", "b_zp": "b_zero_point",
            "b_mul": "b_multiplier", "b_shift": "b_shift", "add_mul": "add_multiplier",
            "add_shift": "add_shift", "token": "token", "dest_x": "dest_x",
            "dest_y": "dest_y", "dest_x_last": "dest_x_last", "dest_y_last": "dest_y_last"}
_STREAMS = ("a", "b", "o", "s", "r")
#: Every ``FIELD=VALUE`` operand, in canonical order.
FIELDS = ("out", "reduce", "counts", *_STREAMS, "zp", "clamp", "rounding", "a_zp", "a_mul", "a_shift",
          "b_zp", "b_mul", "b_shift", "mid_clamp", "add_mul", "add_shift", "token", "dest_x", "dest_y",
          "dest_x_last", "dest_y_last")
#: Clamp operands: operand name to the prefix of their ``Instruction`` attributes.
_CLAMPS = {"clamp": "clamp", "mid_clamp": "mid_clamp"}
#: Streams whose base is a byte address, written in hexadecimal.
_HEX_BASES = ("a", "b", "o", "r")
#: The instruction whose fields are the defaults.
_DEFAULT = Instruction(Opcode.HALT)

_INTEGER = r"-?(?:0[xX][0-9a-fA-F]+|0[bB][01]+|[0-9]+)"
_INTEGER_RE = re.compile(_INTEGER)
_LIST_RE = re.compile(rf"{_INTEGER}(?:,{_INTEGER})*")
_STREAM_RE = re.compile(rf"({_INTEGER})(?:\+\[((?:{_INTEGER}(?:,{_INTEGER})*)?)\])?")
_CLAMP_RE = re.compile(rf"({_INTEGER})\.\.({_INTEGER})")
_WORD_RE = re.compile(r"(?:0[xX])?[0-9a-fA-F]+")
_DIGITS_RE = re.compile(r"[0-9]+")


def _integer(text):
    """The value of ``text``, which matches ``_INTEGER``."""
    digits = text.lstrip("-").lower()
    base = 16 if digits.startswith("0x") else 2 if digits.startswith("0b") else 10
    return int(text, base)


def _integers(text):
    return tuple(_integer(part) for part in text.split(",")) if text else ()


def _field(number, key, value):
    """``(attribute, value)`` pairs of the ``Instruction`` arguments operand ``key=value`` gives."""
    if key in _SCALARS:
        if not _INTEGER_RE.fullmatch(value):
            raise ValueError(f"line {number}: bad {key} value {value!r}; expected an integer "
                             f"(decimal, 0x hexadecimal or 0b binary)")
        return [(_SCALARS[key], _integer(value))]
    if key == "counts":
        if not _LIST_RE.fullmatch(value):
            raise ValueError(f"line {number}: bad counts {value!r}; expected COUNT,... "
                             f"(integers, innermost level first)")
        return [("counts", _integers(value))]
    if key in _STREAMS:
        match = _STREAM_RE.fullmatch(value)
        if not match:
            raise ValueError(f"line {number}: bad stream {key} {value!r}; expected BASE or "
                             f"BASE+[STRIDE,...] (integers, innermost level first)")
        return [(key, (_integer(match[1]), _integers(match[2])))]
    if key in _CLAMPS:
        match = _CLAMP_RE.fullmatch(value)
        if not match:
            raise ValueError(f"line {number}: bad {key} {value!r}; expected MIN..MAX such as "
                             f"-128..127")
        return [(f"{_CLAMPS[key]}_min", _integer(match[1])), (f"{_CLAMPS[key]}_max", _integer(match[2]))]
    if key == "out":
        if value not in PRECISIONS:
            raise ValueError(f"line {number}: bad out precision {value!r}; expected one of "
                             f"{', '.join(PRECISIONS)}")
        return [("out_precision", PRECISIONS[value])]
    if key == "rounding":
        if value not in ROUNDINGS:
            raise ValueError(f"line {number}: bad rounding {value!r}; expected one of "
                             f"{', '.join(ROUNDINGS)}")
        return [("rounding", ROUNDINGS[value])]
    raise ValueError(f"line {number}: unknown field {key!r}; expected one of {', '.join(FIELDS)}")


def _parse_line(number, text):
    """The :class:`Instruction` on line ``number`` (``text`` without its comment, not blank)."""
    mnemonic, *operands = text.split()
    if mnemonic not in MNEMONICS:
        raise ValueError(f"line {number}: unknown opcode {mnemonic!r}; expected one of "
                         f"{', '.join(MNEMONICS)}")
    opcode = MNEMONICS[mnemonic]
    arguments, given = {}, set()

    def give(name, operand):
        if name in given:
            raise ValueError(f"line {number}: operand {operand!r} gives {name} a second time; "
                             f"expected each field at most once")
        given.add(name)

    for operand in operands:
        if operand in PRECISIONS:
            give("precision", operand)
            arguments["precision"] = PRECISIONS[operand]
        elif "=" in operand:
            key, value = operand.split("=", 1)
            pairs = _field(number, key, value)
            give(key, operand)
            arguments.update(pairs)
        elif opcode in _TOKEN_OPCODES and _INTEGER_RE.fullmatch(operand):
            give("token", operand)
            arguments["token"] = _integer(operand)
        else:
            token = "a token number, " if opcode in _TOKEN_OPCODES else ""
            raise ValueError(f"line {number}: unexpected operand {operand!r}; expected "
                             f"{token}{', '.join(PRECISIONS)} or FIELD=VALUE")
    if opcode in _TOKEN_OPCODES and "token" not in given:
        raise ValueError(f"line {number}: missing token after {mnemonic!r}; expected "
                         f"{mnemonic} TOKEN, such as {mnemonic} 3")
    try:
        for name in _STREAMS:
            if name in arguments:
                arguments[name] = Stream(*arguments[name])
        instruction = Instruction(opcode, **arguments)
    except ValueError as error:
        raise ValueError(f"line {number}: {error}") from None
    if opcode.computes and instruction.clamp_min > instruction.clamp_max:   # as the golden model
        raise ValueError(f"line {number}: clamp_min must not exceed clamp_max "
                         f"{instruction.clamp_max!r}, not {instruction.clamp_min!r}")
    return instruction


def _parse(text):
    """``(line number, Instruction)`` of every instruction in ``text``."""
    if not isinstance(text, str):
        raise TypeError(f"assembly text must be a str, not {text!r}")
    program = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0]
        if line.strip():
            program.append((number, _parse_line(number, line)))
    return program


def assemble(text):
    """The program ``text`` spells, as a tuple of :class:`~hdl.isa.Instruction`.

    Raises ``ValueError`` naming the line number, the offending token and what was
    expected if a line is malformed, or the line number and the limit if a value is
    out of range (see the module documentation).
    """
    return tuple(instruction for _, instruction in _parse(text))


def _format_stream(name, stream):
    strides = list(stream.strides)
    while strides and strides[-1] == 0:
        strides.pop()
    base = f"{stream.base:#x}" if name in _HEX_BASES and stream.base else str(stream.base)
    return f"{base}+[{','.join(map(str, strides))}]" if strides else base


def _format(instruction):
    """The canonical line of ``instruction``, without newline."""
    differs = {field.name: getattr(instruction, field.name) != getattr(_DEFAULT, field.name)
               for field in dataclasses.fields(instruction)}
    # The rectangle's last column and row default to its first.
    for name in ("dest_x", "dest_y"):
        differs[f"{name}_last"] = getattr(instruction, f"{name}_last") != getattr(instruction, name)
    operands = [instruction.opcode.name.lower()]
    if instruction.opcode.computes or differs["precision"]:
        operands.append(f"int{instruction.precision.bits}")
    if instruction.opcode in _TOKEN_OPCODES:
        operands.append(str(instruction.token))
    for key in FIELDS:
        if key == "out" and instruction.out_precision != instruction.precision:
            operands.append(f"out=int{instruction.out_precision.bits}")
        elif key == "counts" and differs["counts"]:
            counts = list(instruction.counts)
            while counts[-1] == 1:
                counts.pop()
            operands.append(f"counts={','.join(map(str, counts))}")
        elif key in _STREAMS and differs[key]:
            operands.append(f"{key}={_format_stream(key, getattr(instruction, key))}")
        elif key in _CLAMPS and (differs[f"{key}_min"] or differs[f"{key}_max"]):
            low, high = getattr(instruction, f"{key}_min"), getattr(instruction, f"{key}_max")
            operands.append(f"{key}={low}..{high}")
        elif key == "rounding" and differs["rounding"]:
            operands.append(f"rounding={instruction.rounding.name.lower()}")
        elif key == "token" and instruction.opcode in _TOKEN_OPCODES:
            continue
        elif key in _SCALARS and differs[_SCALARS[key]]:
            operands.append(f"{key}={getattr(instruction, _SCALARS[key])}")
    return " ".join(operands)


def disassemble(program):
    """The canonical text of ``program`` (an iterable of :class:`~hdl.isa.Instruction`),
    one line per instruction, each ending in a newline."""
    lines = []
    for instruction in program:
        if not isinstance(instruction, Instruction):
            raise TypeError(f"program must hold Instruction objects, not {instruction!r}")
        lines.append(_format(instruction) + "\n")
    return "".join(lines)


def _check_params(params):
    if not isinstance(params, CoreParams):
        raise TypeError(f"params must be a CoreParams, not {params!r}")


def assemble_words(text, params):
    """The instruction words (integers) of the program ``text`` spells, for a core with
    ``params``; a value the encoding refuses is reported with its line number."""
    _check_params(params)
    words = []
    for number, instruction in _parse(text):
        try:
            words.append(encode(instruction, params))
        except ValueError as error:
            raise ValueError(f"line {number}: {error}") from None
    return tuple(words)


def _decode(numbered_words, params, label):
    """The instructions of ``(position, word)`` pairs; errors name ``label`` and the position."""
    _check_params(params)
    size = instruction_layout(params).size
    program = []
    for position, word in numbered_words:
        if isinstance(word, bool) or not isinstance(word, int):
            raise TypeError(f"{label} {position}: an instruction word must be an integer, "
                            f"not {word!r}")
        if not 0 <= word < 1 << size:
            raise ValueError(f"{label} {position}: instruction word {word:#x} does not fit "
                             f"{size} bits")
        try:
            program.append(decode(word, params))
        except ValueError as error:
            raise ValueError(f"{label} {position}: {error}") from None
    return tuple(program)


def disassemble_words(words, params):
    """The canonical text of the program whose instruction words (integers) are ``words``,
    for a core with ``params``; a word that encodes no valid instruction is reported with
    its index ("instruction 3: ...")."""
    return disassemble(_decode(enumerate(words), params, "instruction"))


def _read_words(text):
    """``(line number, word)`` of the hexadecimal words in ``text``, one a line."""
    words = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if not _WORD_RE.fullmatch(line):
            raise ValueError(f"line {number}: bad instruction word {line!r}; expected one "
                             f"hexadecimal integer")
        words.append((number, int(line, 16)))
    return words


#: Command-line options: the fields of the core's shape, each of :class:`MacParams` or
#: :class:`CoreParams`.
_OPTIONS = {"lanes": MacParams, "columns": MacParams, "activation_banks": CoreParams,
            "activation_depth": CoreParams, "weight_depth": CoreParams,
            "settings_depth": CoreParams, "program_depth": CoreParams}


def _params(args):
    values = {MacParams: {}, CoreParams: {}}
    for option, kind in _OPTIONS.items():
        text = getattr(args, option)
        if not _DIGITS_RE.fullmatch(text):
            raise ValueError(f"{option.upper()} must be a positive integer, not {text!r}")
        values[kind][option] = int(text)
    return CoreParams(MacParams(**values[MacParams]), **values[CoreParams])


@command
def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m gen.asm", description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=("asm", "dis"),
                        help="asm: text to hexadecimal instruction words; dis: words to text")
    parser.add_argument("file", help="input file, - for standard input")
    defaults = {MacParams: MacParams(), CoreParams: CoreParams()}
    for option, kind in _OPTIONS.items():
        default = getattr(defaults[kind], option)
        parser.add_argument(f"--{option.replace('_', '-')}", dest=option, default=str(default),
                            help=f"{kind.__name__} {option} (default {default})")
    args = parser.parse_args(argv)
    try:
        params = _params(args)
    except (TypeError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        if args.file == "-":
            text = sys.stdin.read()
        else:
            with open(args.file, encoding="utf-8") as file:
                text = file.read()
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else str(error)
        print(f"error: cannot read {args.file}: {reason}", file=sys.stderr)
        return 1
    try:
        if args.mode == "asm":
            digits = -(-instruction_layout(params).size // 4)
            output = "".join(f"{word:0{digits}x}\n" for word in assemble_words(text, params))
        else:
            output = disassemble(_decode(_read_words(text), params, "line"))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    sys.stdout.write(output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
