"""Reading the YAML files staff edit (copy, articles, catalogue, config) with one rule PyYAML leaves out.

A key written twice in one mapping is a mistake: plain YAML loading keeps the last one and drops the first
without a word. Two `photo_noted` texts in the resident copy sent "the photo you sent" where the new one was
meant. Here it is an error naming the key and both lines, and every loader reports it with the file.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.constructor import ConstructorError


class UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader (no arbitrary objects) that refuses a mapping with a repeated key."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[object, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if isinstance(key, str | int | float | bool) and key in seen:
                raise ConstructorError(None, None, f"key {key!r} is written twice (lines {seen[key]} and {line}); "
                                                   "keep one", key_node.start_mark)
            if isinstance(key, str | int | float | bool):
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


def load(text: str) -> Any:
    """`yaml.safe_load`, except that a repeated key is a YAMLError."""
    return yaml.load(text, Loader=UniqueKeyLoader)
