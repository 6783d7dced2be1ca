"""Exact rational arithmetic on a small expression language, parsed here (no ``eval``).

Grammar, with Python's precedence and associativity (``**`` binds tighter than a unary
minus on its left, and groups to the right: ``-2**2`` is -4, ``2**3**2`` is 512)::

    expression := term (("+" | "-") term)*
    term       := unary (("*" | "/" | "//" | "%") unary)*
    unary      := ("+" | "-") unary | power
    power      := atom ("**" unary)?
    atom       := NUMBER | "(" expression ")"
    NUMBER     := digits ["." [digits]] | "." digits, then optionally e or E, a sign, digits

Numbers are exact fractions (``0.1 + 0.2`` is ``3/10``); ``//`` rounds toward negative
infinity and ``%`` takes the divisor's sign, as in Python; exponents must be whole numbers.
Work is bounded: the expression, each number and the nesting depth have caps, and every
value (numerator and denominator) stays within ``MAX_DIGITS`` digits, checked before a
power is computed, so ``9**9**9`` fails at once. A failure is a ``ValidationError`` whose
message names the position (counted from 1) and whose ``details["position"]`` holds it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Context, Decimal, Inexact, localcontext
from fractions import Fraction
from typing import Literal

from smolit.errors import ValidationError

MAX_EXPRESSION_CHARS = 10_000
MAX_NUMBER_CHARS = 1_000
#: the largest power of ten a number may carry in its ``e`` part
MAX_DECIMAL_EXPONENT = 1_000
#: parentheses, unary signs and ``**`` nested in one another
MAX_DEPTH = 100
#: digits of the numerator and of the denominator of any value (Python converts integers
#: of up to 4300 digits to text by default)
MAX_DIGITS = 4_000
MAX_BITS = math.floor(MAX_DIGITS * math.log2(10))
#: significant digits of the decimal shown next to a fraction
DECIMAL_DIGITS = 20

_TOKEN = re.compile(
    r"(?P<space>\s+)"
    r"|(?P<number>(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
    r"|(?P<op>\*\*|//|[-+*/%()])"
)

Kind = Literal["number", "op", "end"]


@dataclass(frozen=True)
class Token:
    kind: Kind
    text: str
    #: where the token starts, counted from 1
    position: int
    value: Fraction = Fraction(0)


@dataclass(frozen=True)
class _Step:
    """One instruction of the postfix program: push ``value``, or apply ``op``."""

    op: str
    position: int
    value: Fraction = Fraction(0)


def _error(message: str, position: int) -> ValidationError:
    return ValidationError(f"{message} at position {position}", details={"position": position})


def _number(text: str, position: int) -> Fraction:
    if len(text) > MAX_NUMBER_CHARS:
        raise _error(f"number longer than {MAX_NUMBER_CHARS} characters", position)
    _, _, exponent = text.lower().partition("e")
    if exponent and abs(int(exponent)) > MAX_DECIMAL_EXPONENT:
        raise _error(f"number with an exponent beyond ±{MAX_DECIMAL_EXPONENT}", position)
    return _bounded(Fraction(text), "number", position)


def tokenize(expression: str) -> list[Token]:
    """The tokens of ``expression``, ending with an ``end`` token."""
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise _error(f"expression longer than {MAX_EXPRESSION_CHARS} characters", 1)
    tokens: list[Token] = []
    index = 0
    while index < len(expression):
        match = _TOKEN.match(expression, index)
        if match is None:
            raise _error(f"unexpected character {expression[index]!r}", index + 1)
        text, position = match.group(), index + 1
        if match.lastgroup == "number":
            tokens.append(Token("number", text, position, _number(text, position)))
        elif match.lastgroup == "op":
            tokens.append(Token("op", text, position))
        index = match.end()
    tokens.append(Token("end", "", len(expression) + 1))
    return tokens


class _Parser:
    """Recursive descent from tokens to a postfix program (evaluated without recursion)."""

    def __init__(self, tokens: list[Token]) -> None:
        self._tokens = tokens
        self._index = 0
        self._depth = 0
        self.program: list[_Step] = []

    def _peek(self) -> Token:
        return self._tokens[self._index]

    def _next(self) -> Token:
        token = self._tokens[self._index]
        if token.kind != "end":
            self._index += 1
        return token

    def _accept(self, *ops: str) -> Token | None:
        token = self._peek()
        return self._next() if token.kind == "op" and token.text in ops else None

    @contextmanager
    def _nested(self, token: Token) -> Iterator[None]:
        """One level deeper, for what follows ``token``."""
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _error(f"expression nested deeper than {MAX_DEPTH} levels", token.position)
        try:
            yield
        finally:
            self._depth -= 1

    def parse(self) -> list[_Step]:
        if self._peek().kind == "end":
            raise _error("empty expression", 1)
        self._expression()
        token = self._peek()
        if token.kind != "end":
            raise _error(f"unexpected {token.text!r}", token.position)
        return self.program

    def _expression(self) -> None:
        self._term()
        while (op := self._accept("+", "-")) is not None:
            self._term()
            self.program.append(_Step(op.text, op.position))

    def _term(self) -> None:
        self._unary()
        while (op := self._accept("*", "/", "//", "%")) is not None:
            self._unary()
            self.program.append(_Step(op.text, op.position))

    def _unary(self) -> None:
        sign = self._accept("+", "-")
        if sign is None:
            self._power()
            return
        with self._nested(sign):
            self._unary()
        self.program.append(_Step("neg" if sign.text == "-" else "pos", sign.position))

    def _power(self) -> None:
        self._atom()
        op = self._accept("**")
        if op is not None:
            with self._nested(op):
                self._unary()
            self.program.append(_Step("**", op.position))

    def _atom(self) -> None:
        token = self._next()
        if token.kind == "number":
            self.program.append(_Step("push", token.position, token.value))
        elif token.kind == "op" and token.text == "(":
            with self._nested(token):
                self._expression()
            if self._accept(")") is None:
                found = self._peek()
                what = "the end" if found.kind == "end" else repr(found.text)
                raise _error(
                    f"expected ')' to close the '(' at position {token.position}, found {what}",
                    found.position,
                )
        elif token.kind == "end":
            raise _error("expected a number or '(', found the end", token.position)
        else:
            raise _error(f"expected a number or '(', found {token.text!r}", token.position)


def _bounded(value: Fraction, what: str, position: int) -> Fraction:
    if max(abs(value.numerator).bit_length(), value.denominator.bit_length()) > MAX_BITS:
        raise _error(f"{what} too large (more than about {MAX_DIGITS} digits)", position)
    return value


def _power(base: Fraction, exponent: Fraction, position: int) -> Fraction:
    if exponent.denominator != 1:
        raise _error(
            f"exponent {exponent} is not a whole number, so the result may not be exact",
            position,
        )
    power = exponent.numerator
    trivial = base.denominator == 1 and abs(base.numerator) <= 1  # 0, 1 or -1
    if not trivial:
        bits = max(math.log2(abs(base.numerator) or 1), math.log2(base.denominator))
        if abs(power) > MAX_BITS or abs(power) * bits > MAX_BITS + 1:
            raise _error(
                f"result of '**' too large (more than about {MAX_DIGITS} digits)", position
            )
    return _bounded(base**power, "result of '**'", position)


def _apply(op: str, left: Fraction, right: Fraction) -> Fraction:
    if op == "+":
        return left + right
    if op == "-":
        return left - right
    if op == "*":
        return left * right
    if op == "/":
        return left / right
    if op == "//":
        return Fraction(left // right)
    return left % right


def _run(program: list[_Step]) -> Fraction:
    stack: list[Fraction] = []
    for step in program:
        if step.op == "push":
            stack.append(step.value)
        elif step.op in ("neg", "pos"):
            stack[-1] = -stack[-1] if step.op == "neg" else stack[-1]
        else:
            right = stack.pop()
            left = stack.pop()
            try:
                if step.op == "**":
                    value = _power(left, right, step.position)
                else:
                    value = _apply(step.op, left, right)
            except ZeroDivisionError:
                raise _error("division by zero", step.position) from None
            stack.append(_bounded(value, f"result of {step.op!r}", step.position))
    (result,) = stack
    return result


def evaluate(expression: str) -> Fraction:
    """The exact value of ``expression``; a ``ValidationError`` naming the position."""
    return _run(_Parser(tokenize(expression)).parse())


def describe(value: Fraction) -> str:
    """``42``; ``3/10 = 0.3``; ``1/3 ≈ 0.33333333333333333333`` (``DECIMAL_DIGITS``)."""
    if value.denominator == 1:
        return str(value.numerator)
    with localcontext(Context(prec=DECIMAL_DIGITS)) as context:
        decimal = Decimal(value.numerator) / Decimal(value.denominator)
        sign = "≈" if context.flags[Inexact] else "="
    return f"{value} {sign} {decimal}"
