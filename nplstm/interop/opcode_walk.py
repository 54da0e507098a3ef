"""The safety pass over a pickle before it is unpickled (docs/interop.md, "No code from a file
is run"): ``check_opcodes(data, source)`` walks ``data`` one opcode at a time with
``pickletools.genops`` (which parses and never executes; nothing is kept per opcode beyond a
model of the unpickler's own stack and memo) and refuses, naming ``source``, opcodes no
state dict needs (``UnsafeFileError``), memo indices beyond the opcodes read so far (on which
Python's unpickler would first grow its memo: 7 bytes of pickle asking for 32 GB), containers
nested over ``MAX_NESTING`` deep, and an object changed after it went inside another (which
no pickler writes and which could hide its depth) (``WeightFileError``).
torch_pickle.unpickle runs it before its restricted unpickler sees a byte.
"""

from __future__ import annotations

import pickletools

from ..checks import printable_text
from .file_errors import UnsafeFileError, WeightFileError

__all__ = ["check_opcodes", "MAX_NESTING"]


# The opcodes a state dict's pickle is made of (torch.save and torch.jit.save write protocol 2;
# later protocols' framing, memoizing and strings are allowed too).  Left out: INST and OBJ
# (protocol 0/1 instantiation), EXT1/2/4 (the copyreg registry), NEWOBJ_EX, and protocol 5's
# out-of-band buffers.
_ALLOWED_OPCODES = frozenset("""
    PROTO FRAME STOP MARK POP POP_MARK DUP
    NONE NEWTRUE NEWFALSE INT BININT BININT1 BININT2 LONG LONG1 LONG4 FLOAT BINFLOAT
    STRING BINSTRING SHORT_BINSTRING BINBYTES SHORT_BINBYTES BINBYTES8
    UNICODE BINUNICODE SHORT_BINUNICODE BINUNICODE8
    EMPTY_LIST APPEND APPENDS LIST EMPTY_TUPLE TUPLE TUPLE1 TUPLE2 TUPLE3
    EMPTY_DICT DICT SETITEM SETITEMS EMPTY_SET ADDITEMS FROZENSET
    PUT BINPUT LONG_BINPUT GET BINGET LONG_BINGET MEMOIZE
    GLOBAL STACK_GLOBAL REDUCE BUILD NEWOBJ PERSID BINPERSID
""".split())


# How deep containers may nest in data.pkl (a tuple in a tuple … counts one per level).  A
# state dict nests about 6 deep, a TorchScript module about 2 more per sub-module level
# (script_attributes allows 100 levels); deeper nesting would make Python's own code (the
# hash of a key, a repr) recurse past its limit or crash, so it is refused before unpickling.
MAX_NESTING = 256

_ATOM_OPCODES = frozenset("""
    NONE NEWTRUE NEWFALSE INT BININT BININT1 BININT2 LONG LONG1 LONG4 FLOAT BINFLOAT
    STRING BINSTRING SHORT_BINSTRING BINBYTES SHORT_BINBYTES BINBYTES8
    UNICODE BINUNICODE SHORT_BINUNICODE BINUNICODE8
""".split())
_EMPTY_CONTAINERS = frozenset("EMPTY_LIST EMPTY_TUPLE EMPTY_DICT EMPTY_SET".split())
_FROM_MARK = frozenset("TUPLE LIST DICT FROZENSET".split())
_FILL_FROM_MARK = frozenset("APPENDS SETITEMS ADDITEMS".split())
_POPS_THEN_PUSHES = {"TUPLE1": 1, "TUPLE2": 2, "TUPLE3": 3, "REDUCE": 2, "NEWOBJ": 2,
                     "BINPERSID": 1, "STACK_GLOBAL": 2}
_FILLS = {"APPEND": 1, "SETITEM": 2, "BUILD": 1}
_PUTS = frozenset("PUT BINPUT LONG_BINPUT".split())
_GETS = frozenset("GET BINGET LONG_BINGET".split())


class _Node:
    """One object of the pickle as the opcode walk sees it: how deep it nests, and whether
    it is already inside another object (then it may no longer change)."""

    __slots__ = ("depth", "inside")

    def __init__(self, depth: int):
        self.depth, self.inside = depth, False


_ATOM = _Node(0)        # numbers and strings: nest nothing, never change


def check_opcodes(data: bytes, source: str) -> None:
    """Refuse what the module docstring lists, walking the opcodes before unpickling.

    A legitimate pickler numbers its memo from 0, so an index beyond the opcodes read so far
    is forged.  To know the depth, the walk keeps the unpickler's stack and memo of
    ``_Node``s (a container's depth is one more than its deepest item's); an object inside
    another may not be filled afterwards (no pickler does that: it fills a container right
    after making it), so a depth, once counted into its container's, never grows unseen."""
    stack, marks, memo = [], [], []
    count = position = 0
    opcode = None

    def fault(words: str, kind=WeightFileError):
        return kind(f"{source}: data.pkl {words} (at byte {position}): refused")

    def pop(n: int = 1) -> list:
        floor = marks[-1] if marks else 0
        if len(stack) - n < floor:
            raise fault(f"pops an empty stack at {opcode.name}; corrupt")
        items = stack[len(stack) - n:]
        del stack[len(stack) - n:]
        return items

    def pop_mark() -> list:
        if not marks:
            raise fault(f"has {opcode.name} without a MARK; corrupt")
        floor = marks.pop()
        items = stack[floor:]
        del stack[floor:]
        return items

    def contain(items) -> int:
        depth = 0
        for item in items:
            item.inside = True
            depth = max(depth, item.depth)
        return depth + 1

    def push(depth: int) -> None:
        if depth > MAX_NESTING:
            raise fault(f"nests containers over {MAX_NESTING} deep, which no state dict does")
        stack.append(_Node(depth))

    def fill(items) -> None:
        if not stack:
            raise fault(f"applies {opcode.name} to an empty stack; corrupt")
        target = stack[-1]
        if target is _ATOM:    # a number or string: the unpickler refuses to fill it
            return
        if target.inside:
            raise fault(f"changes an object with {opcode.name} after putting it inside "
                        "another, which no pickler does")
        depth = contain(items)
        if depth > MAX_NESTING:
            raise fault(f"nests containers over {MAX_NESTING} deep, which no state dict does")
        target.depth = max(target.depth, depth)

    try:
        for opcode, argument, position in pickletools.genops(data):
            count += 1
            name = opcode.name
            if name not in _ALLOWED_OPCODES:
                raise fault(f"uses the pickle opcode {name}, which no state dict needs",
                            UnsafeFileError)
            if name in _ATOM_OPCODES:
                stack.append(_ATOM)
            elif name in _EMPTY_CONTAINERS:
                push(1)
            elif name in ("GLOBAL", "PERSID"):   # objects of the stand-ins' making
                push(0)
            elif name == "MARK":
                marks.append(len(stack))
            elif name in _FROM_MARK:
                push(contain(pop_mark()))
            elif name in _POPS_THEN_PUSHES:
                push(contain(pop(_POPS_THEN_PUSHES[name])))
            elif name in _FILLS:
                items = pop(_FILLS[name])
                fill(items)
            elif name in _FILL_FROM_MARK:
                items = pop_mark()
                fill(items)
            elif name == "POP":
                if marks and marks[-1] == len(stack):
                    marks.pop()
                else:
                    pop()
            elif name == "POP_MARK":
                pop_mark()
            elif name == "DUP":
                stack.extend(pop() * 2)       # one object, twice: it shares one _Node
            elif name in _PUTS or name == "MEMOIZE":
                index = len(memo) if name == "MEMOIZE" else int(argument)
                if not 0 <= index <= count:
                    raise fault(f"has memo index {index} after {count} opcodes; corrupt")
                if not stack:
                    raise fault("memoizes from an empty stack; corrupt")
                memo.extend([None] * (index + 1 - len(memo)))
                memo[index] = stack[-1]
            elif name in _GETS:
                index = int(argument)
                if not 0 <= index < len(memo) or memo[index] is None:
                    raise fault(f"refers to memo index {index}, which it never stored; corrupt")
                stack.append(memo[index])     # the same object: the same _Node
    except WeightFileError:
        raise
    except Exception as err:    # genops' own errors on a damaged stream (ValueError, …)
        raise WeightFileError(f"{source}: data.pkl is not a readable pickle (corrupt or "
                              f"truncated: {type(err).__name__}: "
                              f"{printable_text(str(err), 200)})") from None
