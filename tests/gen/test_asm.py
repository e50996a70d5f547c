"""The assembler and disassembler: exact round trips through text and words, on hand-written,
random and compiled programs; every malformed line refused in one sentence; the CLI."""

import io
import re
import subprocess
import sys

import numpy as np
import pytest

import gen.asm
from gen.asm import assemble, assemble_words, disassemble, disassemble_words, main
from gen.compiler import compile_network
from hdl.isa import Instruction, Opcode, Stream, decode, encode, instruction_layout
from hdl.params import CoreParams, MacParams, Precision, Rounding
from sim.tb.runner import ROOT
from sim.workloads import WORKLOADS, build

OPCODES = "halt, mac, add, maxpool, avgpool, signal, wait, send, delay, macadd"
FIELDS = ("out, reduce, counts, a, b, o, s, r, zp, clamp, rounding, a_zp, a_mul, a_shift, b_zp, b_mul, "
          "b_shift, "
          "mid_clamp, add_mul, add_shift, "
          "token, dest_x, dest_y, dest_x_last, dest_y_last")
#: Bits and hexadecimal digits of an instruction word of the default core.
BITS = instruction_layout(CoreParams()).size
DIGITS = -(-BITS // 4)
INTEGER = "an integer (decimal, 0x hexadecimal or 0b binary)"
STREAM = "BASE or BASE+[STRIDE,...] (integers, innermost level first)"


def exactly(message):
    return f"^{re.escape(message)}$"


# Every opcode, and every field set away from its default on some line.
CANONICAL = """\
mac int8 reduce=3 counts=4,3,3,8,8,2 a=0x100+[8,64,640,16,1280] b=0+[64,256,768,0,0,2304] \
o=0x2000+[0,0,0,8,64,4] s=0+[0,0,0,0,0,1] zp=-3 clamp=-3..127 rounding=single
mac int8 out=int4 reduce=3 counts=4,3,3 a=0x100+[8,64,640] b=0+[64,256,768] s=2 zp=-1 clamp=-8..7
avgpool int2 out=int8 reduce=2 counts=8,8 a=0x10+[8,64] o=0x4000 s=3
add int4 counts=4,8,8 a=0x720+[2,8,64] b=0x928+[2,8,64] o=0xb28+[2,8,64] s=5 zp=1 clamp=-8..7 \
a_zp=2 a_mul=1073741824 a_shift=-1 b_zp=-1 b_mul=1094744301 b_shift=-10
maxpool int2 reduce=2 counts=3,3,4,4,2 a=0x40+[64,640,128,1280,2] o=0x1900+[0,0,64,256,2] s=7 \
clamp=-2..1
avgpool int8 reduce=2 counts=8,8,2 a=0x10+[8,64,1] o=0x4000+[0,0,1] s=31 zp=-128 clamp=-128..-1
signal 3
wait 15
wait 0
signal int4 0 counts=1,1,1,1,1,4096
halt int2 reduce=1 counts=2 a=0x10+[1] b=0xffff+[0,-65536] o=0x20 s=1 zp=1 clamp=0..0 \
rounding=single a_zp=-128 a_mul=-2147483648 a_shift=-31 b_zp=127 b_mul=2147483647 b_shift=30 token=15
halt
"""

PROGRAM = (
    Instruction(Opcode.MAC, Precision.INT8, Rounding.SINGLE, reduce_levels=3, counts=(4, 3, 3, 8, 8, 2),
                a=Stream(0x100, (8, 64, 640, 16, 1280, 0)), b=Stream(0, (64, 256, 768, 0, 0, 2304)),
                o=Stream(0x2000, (0, 0, 0, 8, 64, 4)), s=Stream(0, (0, 0, 0, 0, 0, 1)),
                zero_point=-3, clamp_min=-3, clamp_max=127),
    Instruction(Opcode.MAC, Precision.INT8, reduce_levels=3, counts=(4, 3, 3), a=Stream(0x100, (8, 64, 640)),
                b=Stream(0, (64, 256, 768)), s=Stream(2), zero_point=-1, clamp_min=-8, clamp_max=7,
                out_precision=Precision.INT4),
    Instruction(Opcode.AVGPOOL, Precision.INT2, reduce_levels=2, counts=(8, 8), a=Stream(0x10, (8, 64)),
                o=Stream(0x4000), s=Stream(3), out_precision=Precision.INT8),
    Instruction(Opcode.ADD, Precision.INT4, counts=(4, 8, 8), a=Stream(0x720, (2, 8, 64)),
                b=Stream(0x928, (2, 8, 64)), o=Stream(0xb28, (2, 8, 64)), s=Stream(5), zero_point=1,
                clamp_min=-8, clamp_max=7, a_zero_point=2, a_multiplier=1 << 30, a_shift=-1,
                b_zero_point=-1, b_multiplier=1094744301, b_shift=-10),
    Instruction(Opcode.MAXPOOL, Precision.INT2, reduce_levels=2, counts=(3, 3, 4, 4, 2),
                a=Stream(0x40, (64, 640, 128, 1280, 2)), o=Stream(0x1900, (0, 0, 64, 256, 2)),
                s=Stream(7), clamp_min=-2, clamp_max=1),
    Instruction(Opcode.AVGPOOL, reduce_levels=2, counts=(8, 8, 2), a=Stream(0x10, (8, 64, 1)),
                o=Stream(0x4000, (0, 0, 1)), s=Stream(31), zero_point=-128, clamp_max=-1),
    Instruction(Opcode.SIGNAL, token=3),
    Instruction(Opcode.WAIT, token=15),
    Instruction(Opcode.WAIT),
    Instruction(Opcode.SIGNAL, Precision.INT4, counts=(1, 1, 1, 1, 1, 4096)),
    Instruction(Opcode.HALT, Precision.INT2, Rounding.SINGLE, 1, 15, (2,), Stream(0x10, (1,)),
                Stream(0xffff, (0, -65536)), Stream(0x20), Stream(1), zero_point=1, clamp_min=0,
                clamp_max=0, a_zero_point=-128, a_multiplier=-(1 << 31), a_shift=-31, b_zero_point=127,
                b_multiplier=(1 << 31) - 1, b_shift=30),
    Instruction(Opcode.HALT),
)

# The same program spelled otherwise: operands reordered, other bases, explicit defaults,
# trailing 1s and 0s, comments, blank lines, tabs and Windows line ends.
SPELLED = """\
# a comment line

mac   rounding=single int8 s=0+[0,0,0,0,0,1] counts=4,3,3,8,8,2 reduce=0b11\tzp=-0x3 \
a=256+[8,64,640,16,1280,0] b=0x0+[64,256,768,0,0,2304] o=8192+[0,0,0,8,64,4] clamp=-3..0x7f # conv
mac clamp=-8..7 out=int4 reduce=3 counts=4,3,3 a=0x100+[8,64,640] b=0+[64,256,768] s=2 zp=-1 int8
avgpool out=int8 int2 reduce=2 counts=8,8 a=0x10+[8,64] o=0x4000 s=3+[0]
add int4 a=1824+[2,8,64,0] b=2344+[2,8,64] o=2856+[2,8,64] s=5+[] zp=1 clamp=-8..7 a_zp=2 \
a_mul=0x40000000 a_shift=-1 b_zp=-1 b_mul=1094744301 b_shift=-10 counts=4,8,8,1,1,1 reduce=0
\tmaxpool int2 reduce=2 counts=3,3,4,4,2,1 a=0x40+[64,640,128,1280,2] o=0x1900+[0,0,64,256,2] \
s=7+[0,0] clamp=-2..1 rounding=double b=0 token=0\r
avgpool reduce=2 counts=8,8,2 a=0x10+[8,64,1] o=0x4000+[0,0,1] s=31 zp=-128 clamp=-128..-1 int8
signal 0x3
wait token=15
wait 0 # token 0
signal counts=1,1,1,1,1,4096 0 int4
halt token=0xf int2 reduce=1 counts=2,1 a=16+[1] b=65535+[0,-65536,0] o=32 s=1 zp=1 clamp=0..0 \
rounding=single a_zp=-128 a_mul=-2147483648 a_shift=-31 b_zp=127 b_mul=2147483647 b_shift=30
halt int8 zp=0 a_mul=0 clamp=-128..127   # every default spelled out
"""


def test_assemble():
    assert assemble(CANONICAL) == PROGRAM


def test_disassemble():
    assert disassemble(PROGRAM) == CANONICAL
    assert disassemble(list(PROGRAM)) == disassemble(iter(PROGRAM)) == CANONICAL
    assert disassemble([]) == ""


def test_assemble_any_spelling():
    assert assemble(SPELLED) == PROGRAM
    assert disassemble(assemble(SPELLED)) == CANONICAL


def test_documented_example():
    """The module documentation's example is canonical apart from its comment line."""
    example = gen.asm.__doc__.split("::\n\n", 1)[1].split("\n\n", 1)[0]
    lines = [line.strip() for line in example.splitlines()]
    program = assemble("\n".join(lines))
    assert [instruction.opcode for instruction in program] == [
        Opcode.MAC, Opcode.MAC, Opcode.ADD, Opcode.MAXPOOL, Opcode.SEND, Opcode.SIGNAL, Opcode.SIGNAL,
        Opcode.WAIT,
        Opcode.DELAY, Opcode.HALT]
    assert disassemble(program) == "".join(line + "\n" for line in lines if not line.startswith("#"))
    assert disassemble_words(assemble_words("\n".join(lines), CoreParams()), CoreParams()) == \
        disassemble(program)


def test_empty():
    assert assemble("") == assemble("\n# nothing\n   \n") == ()
    assert assemble_words("", CoreParams()) == ()
    assert disassemble_words([], CoreParams()) == ""


@pytest.mark.parametrize("params", [CoreParams(), CoreParams(MacParams(16, 16), settings_depth=64)],
                         ids=["default", "16x16"])
def test_words(params):
    words = assemble_words(CANONICAL, params)
    assert words == tuple(encode(instruction, params) for instruction in PROGRAM)
    assert disassemble_words(words, params) == CANONICAL
    assert tuple(decode(word, params) for word in words) == PROGRAM


def random_program(seed, params, length=200):
    """Random valid instructions, from random instruction words ``decode`` accepts and whose
    output clamp, if they compute, is in order (as the assembler requires)."""
    rng = np.random.default_rng(seed)
    size = instruction_layout(params).size
    program = []
    while len(program) < length:
        word = int.from_bytes(rng.bytes(-(-size // 8)), "little") & ((1 << size) - 1)
        try:
            instruction = decode(word, params)
        except ValueError:      # opcode 7, precision 3, a shift of -32 or 31
            continue
        if not instruction.opcode.computes or instruction.clamp_min <= instruction.clamp_max:
            program.append(instruction)
    return tuple(program)


@pytest.mark.parametrize("seed", range(5))
def test_random_round_trip(seed):
    params = CoreParams()
    program = random_program(seed, params)
    assert {instruction.opcode for instruction in program} == set(Opcode), f"seed {seed}"
    text = disassemble(program)
    assert len(text.splitlines()) == len(program), f"seed {seed}"
    assert assemble(text) == program, f"seed {seed}"
    assert disassemble(assemble(text)) == text, f"seed {seed}"


@pytest.mark.parametrize("bits", [8, 4, 2])
@pytest.mark.parametrize("workload", list(WORKLOADS))
def test_compiled_round_trip(workload, bits):
    params = CoreParams()
    network, _ = build(WORKLOADS[workload], bits, seed=1)
    program = compile_network(network, params).program
    text = disassemble(program)
    assert text.splitlines()[-1] == "halt"
    assert assemble(text) == program
    assert disassemble(assemble(text)) == text
    words = assemble_words(text, params)
    assert words == tuple(encode(instruction, params) for instruction in program)
    assert disassemble_words(words, params) == text


@pytest.mark.parametrize("text, message", [
    ("mul 3", f"line 1: unknown opcode 'mul'; expected one of {OPCODES}"),
    ("halt\n\n# comment\nMAC int8", f"line 4: unknown opcode 'MAC'; expected one of {OPCODES}"),
    ("mac foo=1", f"line 1: unknown field 'foo'; expected one of {FIELDS}"),
    ("mac =1", f"line 1: unknown field ''; expected one of {FIELDS}"),
    ("mac int16", "line 1: unexpected operand 'int16'; expected int8, int4, int2 or FIELD=VALUE"),
    ("halt 3", "line 1: unexpected operand '3'; expected int8, int4, int2 or FIELD=VALUE"),
    ("signal x", "line 1: unexpected operand 'x'; expected a token number, int8, int4, int2 or "
                 "FIELD=VALUE"),
    ("signal", "line 1: missing token after 'signal'; expected signal TOKEN, such as signal 3"),
    ("halt\nwait int4 # 3", "line 2: missing token after 'wait'; expected wait TOKEN, such as wait 3"),
    ("add zp=1.5", f"line 1: bad zp value '1.5'; expected {INTEGER}"),
    ("add zp=", f"line 1: bad zp value ''; expected {INTEGER}"),
    ("add a_mul=0x", f"line 1: bad a_mul value '0x'; expected {INTEGER}"),
    ("mac reduce=+1", f"line 1: bad reduce value '+1'; expected {INTEGER}"),
    ("mac token=1_0", f"line 1: bad token value '1_0'; expected {INTEGER}"),
    ("mac counts=4,,3", "line 1: bad counts '4,,3'; expected COUNT,... (integers, innermost level first)"),
    ("mac counts=", "line 1: bad counts ''; expected COUNT,... (integers, innermost level first)"),
    ("mac a=0x100+[8,64", f"line 1: bad stream a '0x100+[8,64'; expected {STREAM}"),
    ("mac o=0x100+8", f"line 1: bad stream o '0x100+8'; expected {STREAM}"),
    ("mac s=[1]", f"line 1: bad stream s '[1]'; expected {STREAM}"),
    ("mac b=0+[8,,64]", f"line 1: bad stream b '0+[8,,64]'; expected {STREAM}"),
    ("mac clamp=5", "line 1: bad clamp '5'; expected MIN..MAX such as -128..127"),
    ("mac clamp=0...5", "line 1: bad clamp '0...5'; expected MIN..MAX such as -128..127"),
    ("mac rounding=triple", "line 1: bad rounding 'triple'; expected one of double, single"),
    ("mac out=int16", "line 1: bad out precision 'int16'; expected one of int8, int4, int2"),
    ("mac out=", "line 1: bad out precision ''; expected one of int8, int4, int2"),
    ("mac out=int4 out=int8", "line 1: operand 'out=int8' gives out a second time; expected each field "
                              "at most once"),
    ("mac out=int4", "line 1: clamp_min must lie in [-8, 7] of out_precision int4, not -128"),
    ("add int2 out=int4 zp=-9 clamp=-8..7",
     "line 1: zero_point must lie in [-8, 7] of out_precision int4, not -9"),
    ("mac zp=1 zp=2", "line 1: operand 'zp=2' gives zp a second time; expected each field at most once"),
    ("mac int8 int4", "line 1: operand 'int4' gives precision a second time; expected each field at "
                      "most once"),
    ("signal 3 token=4", "line 1: operand 'token=4' gives token a second time; expected each field at "
                         "most once"),
    ("wait 3 3", "line 1: operand '3' gives token a second time; expected each field at most once"),
    # Values out of range: the instruction's own checks, with the line number.
    ("halt\nsignal 16", "line 2: token must lie in [0, 15], not 16"),
    ("mac counts=0", "line 1: count of loop level 0 must lie in [1, 4096], not 0"),
    ("mac counts=1,4097", "line 1: count of loop level 1 must lie in [1, 4096], not 4097"),
    ("mac counts=1,1,1,1,1,1,1", "line 1: counts must be at most 6 loop counts, not (1, 1, 1, 1, 1, 1, 1)"),
    ("mac reduce=4", "line 1: reduce_levels must lie in [0, 3], not 4"),
    ("mac a=-1", "line 1: stream base must be a non-negative integer, not -1"),
    ("mac a=0+[1,2,3,4,5,6,7]",
     "line 1: stream strides must be at most 6 integers, not (1, 2, 3, 4, 5, 6, 7)"),
    ("add zp=128", "line 1: zero_point must be an integer in [-128, 127], not 128"),
    ("add clamp=-129..0", "line 1: clamp_min must be an integer in [-128, 127], not -129"),
    ("mac clamp=5..-5", "line 1: clamp_min must not exceed clamp_max -5, not 5"),
    ("add b_zp=-129", "line 1: b_zero_point must be an integer in [-128, 127], not -129"),
    ("add a_mul=0x80000000", "line 1: a_multiplier must be an integer in [-2147483648, 2147483647], "
                             "not 2147483648"),
    ("add a_shift=31", "line 1: a_shift must be an integer in [-31, 30], not 31"),
    ("maxpool reduce=2 o=0+[0,8]", "line 1: stream o advances per tile: its strides of the 2 reduction "
                                   "levels must be 0, not (0, 8, 0, 0, 0, 0)"),
])
def test_assemble_wrong(text, message):
    with pytest.raises(ValueError, match=exactly(message)):
        assemble(text)
    with pytest.raises(ValueError, match=exactly(message)):
        assemble_words(text, CoreParams())


@pytest.mark.parametrize("text, message", [
    ("halt\nmac counts=2 a=0x7ff8+[8]",
     "line 2: stream a of MAC reaches addresses 32760 to 32768, outside its memory of 32768"),
    ("add b=0x9c40", "line 1: stream b of ADD reaches addresses 40000 to 40000, outside its memory of 32768"),
    ("halt b=0+[65536]", "line 1: stream b step 65536 does not fit 17 bits"),
    ("halt a=0+[32768]", "line 1: stream a step 32768 does not fit 16 bits"),   # activations: 32 KB
])
def test_assemble_words_wrong(text, message):
    assemble(text)          # well-formed: only the encoding for this core refuses it
    with pytest.raises(ValueError, match=exactly(message)):
        assemble_words(text, CoreParams())


def shift_word(params, shift):
    return instruction_layout(params).const({"opcode": Opcode.HALT, "a_shift": shift}).as_bits()


def test_disassemble_words_wrong():
    params = CoreParams()
    halt = encode(Instruction(Opcode.HALT), params)
    with pytest.raises(ValueError, match=exactly("instruction 1: 10 is not a valid Opcode")):
        disassemble_words([halt, 10], params)
    with pytest.raises(ValueError, match=exactly("instruction 0: 3 is not a valid Precision")):
        disassemble_words([3 << 4], params)
    with pytest.raises(ValueError, match=exactly("instruction 2: a_shift must be an integer in [-31, 30], "
                                                 "not 31")):
        disassemble_words([halt, halt, shift_word(params, 31)], params)
    with pytest.raises(ValueError, match=exactly(f"instruction 0: instruction word {1 << BITS:#x} "
                                                 f"does not fit {BITS} bits")):
        disassemble_words([1 << BITS], params)
    with pytest.raises(ValueError, match=exactly(f"instruction 0: instruction word -0x1 does not fit "
                                                 f"{BITS} bits")):
        disassemble_words([-1], params)
    with pytest.raises(TypeError, match=exactly("instruction 0: an instruction word must be an integer, "
                                                "not '12'")):
        disassemble_words(["12"], params)
    with pytest.raises(TypeError, match=exactly("params must be a CoreParams, not 8")):
        disassemble_words([halt], 8)


def test_arguments_wrong():
    with pytest.raises(TypeError, match=exactly("assembly text must be a str, not b'halt'")):
        assemble(b"halt")
    with pytest.raises(TypeError, match=exactly("params must be a CoreParams, not None")):
        assemble_words("halt", None)
    with pytest.raises(TypeError, match=exactly("program must hold Instruction objects, not "
                                                "<Opcode.HALT: 0>")):
        disassemble([Opcode.HALT])


# Command line ---------------------------------------------------------------------------

def hex_lines(words, params):
    digits = -(-instruction_layout(params).size // 4)
    return "".join(f"{word:0{digits}x}\n" for word in words)


def test_cli_asm(tmp_path, capsys):
    source = tmp_path / "program.s"
    source.write_text(SPELLED)
    assert main(["asm", str(source)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    lines = out.splitlines()
    assert [int(line, 16) for line in lines] == [encode(i, CoreParams()) for i in PROGRAM]
    assert {len(line) for line in lines} == {DIGITS}
    assert out == hex_lines(assemble_words(SPELLED, CoreParams()), CoreParams())


def test_cli_dis(tmp_path, capsys):
    params = CoreParams()
    words = tmp_path / "program.hex"
    text = hex_lines(assemble_words(CANONICAL, params), params).splitlines()
    text[1] = "0x" + text[1].upper() + "   # an add"
    words.write_text("# the program\n\n" + "\n".join(text) + "\n")
    assert main(["dis", str(words)]) == 0
    out, err = capsys.readouterr()
    assert (out, err) == (CANONICAL, "")


def test_cli_params(tmp_path, capsys):
    params = CoreParams(MacParams(16, 4), activation_banks=8, activation_depth=2048, weight_depth=512,
                        settings_depth=64, program_depth=128)
    options = ["--lanes", "16", "--columns", "4", "--activation-banks", "8", "--activation-depth", "2048",
               "--weight-depth", "512", "--settings-depth", "64", "--program-depth", "128"]
    source = tmp_path / "program.s"
    source.write_text(CANONICAL)
    assert main(["asm", str(source), *options]) == 0
    out, _ = capsys.readouterr()
    assert out == hex_lines(assemble_words(CANONICAL, params), params)
    assert out != hex_lines(assemble_words(CANONICAL, CoreParams()), CoreParams())
    words = tmp_path / "program.hex"
    words.write_text(out)
    assert main(["dis", str(words), *options]) == 0
    assert capsys.readouterr().out == CANONICAL


def test_cli_stdin(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("signal 3\nhalt\n"))
    assert main(["asm", "-"]) == 0
    out = capsys.readouterr().out
    monkeypatch.setattr(sys, "stdin", io.StringIO(out))
    assert main(["dis", "-"]) == 0
    assert capsys.readouterr().out == "signal 3\nhalt\n"


@pytest.mark.parametrize("arguments, content, status, message", [
    (["asm"], "halt\nmul 3\n", 1, f"line 2: unknown opcode 'mul'; expected one of {OPCODES}"),
    (["asm"], "mac counts=2 a=0x7ff8+[8]",
     1, "line 1: stream a of MAC reaches addresses 32760 to 32768, outside its memory of 32768"),
    (["asm"], "signal 16", 1, "line 1: token must lie in [0, 15], not 16"),
    (["dis"], "# words\nxyz\n", 1, "line 2: bad instruction word 'xyz'; expected one hexadecimal integer"),
    (["dis"], "0 0\n", 1, "line 1: bad instruction word '0 0'; expected one hexadecimal integer"),
    (["dis"], "0\n\na\n", 1, "line 3: 10 is not a valid Opcode"),
    (["dis"], "1" + "0" * DIGITS, 1,
     "line 1: instruction word 0x1" + "0" * DIGITS + f" does not fit {BITS} bits"),
    (["asm", "--lanes", "abc"], "halt", 2, "LANES must be a positive integer, not 'abc'"),
    (["asm", "--lanes", "6"], "halt", 2, "MAC lanes must be a power of two of at least 4, not 6"),
    (["asm", "--columns", "16"], "halt", 2, "core MAC columns must be at most its 8 lanes, not 16"),
    (["dis", "--settings-depth", "3"], "0", 2,
     "core settings_depth must be a power of two of at least 2, not 3"),
])
def test_cli_wrong(tmp_path, capsys, arguments, content, status, message):
    source = tmp_path / "input"
    source.write_text(content)
    mode, *options = arguments
    assert main([mode, str(source), *options]) == status
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"error: {message}\n"


def test_cli_unreadable(tmp_path, capsys):
    missing = tmp_path / "missing.s"
    assert main(["asm", str(missing)]) == 1
    assert capsys.readouterr().err == f"error: cannot read {missing}: No such file or directory\n"
    binary = tmp_path / "binary.s"
    binary.write_bytes(b"halt\xff\n")
    assert main(["asm", str(binary)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot read {binary}: 'utf-8' codec can't decode byte 0xff")
    assert err.count("\n") == 1


def test_cli_module(tmp_path):
    source = tmp_path / "program.s"
    source.write_text("wait 2\nhalt\n")
    result = subprocess.run([sys.executable, "-m", "gen.asm", "asm", str(source)], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    expected = [Instruction(Opcode.WAIT, token=2), Instruction(Opcode.HALT)]
    assert [int(line, 16) for line in result.stdout.splitlines()] == \
        [encode(instruction, CoreParams()) for instruction in expected]
    source.write_text("wait\n")
    result = subprocess.run([sys.executable, "-m", "gen.asm", "asm", str(source)], cwd=ROOT,
                            capture_output=True, text=True)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == "error: line 1: missing token after 'wait'; expected wait TOKEN, such as wait 3\n"
