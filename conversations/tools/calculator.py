"""Tool: safe arithmetic over a whitelist of syntax nodes (parsed with `ast`, never eval)."""

import ast
import math
import operator

from django.utils.translation import gettext_lazy as _

from .registry import ToolContext, ToolInputError

MAX_EXPRESSION_CHARS = 500
MAX_EXPONENT = 1000
MAX_INT_DIGITS = 1000
MAX_NODES = 200

_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_FUNCTIONS = {"sqrt": math.sqrt, "abs": abs, "round": round, "log": math.log, "exp": math.exp}
_CONSTANTS = {"pi": math.pi, "e": math.e}


def _check(value: float | int) -> float | int:
    if isinstance(value, int) and abs(value).bit_length() > MAX_INT_DIGITS * 3.33:
        raise ToolInputError("The result is too large.")
    return value


def _eval(node: ast.AST) -> float | int:
    if isinstance(node, ast.Expression):
        return _eval(node.body)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_eval(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
            raise ToolInputError(f"Exponents are limited to {MAX_EXPONENT}.")
        try:
            return _check(_BINARY[type(node.op)](left, right))
        except ZeroDivisionError:
            raise ToolInputError("Division by zero.") from None
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCTIONS
        and not node.keywords
        and 1 <= len(node.args) <= 2
    ):
        return _check(_FUNCTIONS[node.func.id](*(_eval(a) for a in node.args)))
    raise ToolInputError(f"Not allowed in an expression: {type(node).__name__}.")


def evaluate(expression: object) -> float | int:
    """The value of an arithmetic expression; ToolInputError for anything else."""
    if not isinstance(expression, str) or not expression.strip():
        raise ToolInputError("The expression must be a non-empty text.")
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise ToolInputError(f"Expressions are limited to {MAX_EXPRESSION_CHARS} characters.")
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError:
        raise ToolInputError("The expression is not valid arithmetic.") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise ToolInputError("The expression is too long.")
    try:
        return _eval(tree)
    except (OverflowError, ValueError) as exc:
        if isinstance(exc, ToolInputError):
            raise
        raise ToolInputError(f"The expression cannot be computed: {exc}.") from None


class Calculator:
    name = "calculator"
    label = _("Calculator")
    description = (
        "Evaluate an arithmetic expression: numbers, + - * / // % **, parentheses, "
        "sqrt, abs, round, log, exp, pi and e."
    )
    input_schema = {
        "type": "object",
        "properties": {"expression": {"type": "string", "description": "e.g. (2 + 3) * 4"}},
        "required": ["expression"],
        "additionalProperties": False,
    }

    def call(self, arguments: dict, context: ToolContext) -> dict:
        expression = arguments.get("expression")
        return {"expression": expression, "value": evaluate(expression)}


TOOL = Calculator()
