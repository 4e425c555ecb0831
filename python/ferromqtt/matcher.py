"""A trie of topic filters (``paho.mqtt.matcher``): which stored filters match a topic.

Used to dispatch messages to per-filter callbacks. Semantics follow paho: ``+`` is one level,
``#`` the rest including the parent level, and wildcards in the first level never match a
topic starting with ``$``. Filters are not validated. A value of None means "no entry".
"""


class MQTTMatcher:
    """Maps topic filters to values; ``iter_match(topic)`` yields the values that match."""

    class Node:
        """One level of the trie: children by level text, and the value stored here."""

        __slots__ = "_children", "_content"

        def __init__(self):
            self._children = {}
            self._content = None

    def __init__(self):
        self._root = self.Node()

    def _find(self, key):
        """The node of filter ``key`` holding a value; KeyError(key) otherwise."""
        node = self._root
        for level in key.split("/"):
            node = node._children.get(level)
            if node is None:
                raise KeyError(key)
        if node._content is None:
            raise KeyError(key)
        return node

    def __setitem__(self, key, value):
        node = self._root
        for level in key.split("/"):
            child = node._children.get(level)
            if child is None:
                child = node._children[level] = self.Node()
            node = child
        node._content = value

    def __getitem__(self, key):
        return self._find(key)._content

    def __delitem__(self, key):
        path = [self._root]
        levels = key.split("/")
        for level in levels:
            child = path[-1]._children.get(level)
            if child is None:
                raise KeyError(key)
            path.append(child)
        if path[-1]._content is None:
            raise KeyError(key)
        path[-1]._content = None
        # Prune the nodes left with neither a value nor children, deepest first.
        for depth in range(len(levels), 0, -1):
            node = path[depth]
            if node._children or node._content is not None:
                break
            del path[depth - 1]._children[levels[depth - 1]]

    def iter_match(self, topic):
        """An iterator over the values of every stored filter that matches ``topic``."""
        levels = topic.split("/")
        # [MQTT-4.7.2-1] a wildcard first level does not match a "$" topic.
        wildcards_at_root = not topic.startswith("$")
        return self._walk(self._root, levels, 0, wildcards_at_root)

    def _walk(self, node, levels, depth, wildcards_at_root):
        wildcards = wildcards_at_root or depth > 0
        children = node._children
        if depth == len(levels):
            if node._content is not None:
                yield node._content
        else:
            exact = children.get(levels[depth])
            if exact is not None:
                yield from self._walk(exact, levels, depth + 1, wildcards_at_root)
            plus = children.get("+")
            if plus is not None and wildcards:
                yield from self._walk(plus, levels, depth + 1, wildcards_at_root)
        hash_node = children.get("#")
        if hash_node is not None and wildcards and hash_node._content is not None:
            yield hash_node._content
