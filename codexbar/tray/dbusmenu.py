"""The tray menu over D-Bus: `com.canonical.dbusmenu`, the menu protocol StatusNotifierItem hosts
(KDE, XFCE, GNOME's AppIndicator extension, Waybar, …) read and draw themselves.

Rows from codexbar.tray.menu become items with ids that stay the same while a row keeps its
place and action, so a click on a menu the host drew a moment ago still reaches the right row.
Every change bumps the layout revision and emits `LayoutUpdated`; hosts then call `GetLayout`.
A click (`Event` "clicked") hands the row's action to `on_action` on a worker thread, so a slow
action never stalls the bus.

The D-Bus signatures are the annotations (dbus-fast reads them), hence no
`from __future__ import annotations` and the aliases below.
"""

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Annotated, Any

from dbus_fast import Variant
from dbus_fast.annotations import (
    DBusBool,
    DBusInt32,
    DBusSignature,
    DBusStr,
    DBusUInt32,
    DBusVariant,
)
from dbus_fast.service import PropertyAccess, ServiceInterface, dbus_property, method, signal

from codexbar.tray.menu import Action, Row

log = logging.getLogger(__name__)

Strings = Annotated[list[str], DBusSignature("as")]
Ints = Annotated[list[int], DBusSignature("ai")]
RevisionAndLayout = Annotated[list[Any], DBusSignature("u(ia{sv}av)")]
GroupProperties = Annotated[list[Any], DBusSignature("a(ia{sv})")]
Events = Annotated[list[Any], DBusSignature("a(isvu)")]
TwoIntLists = Annotated[list[Any], DBusSignature("aiai")]
RevisionAndParent = Annotated[list[Any], DBusSignature("ui")]
PropertyUpdates = Annotated[list[Any], DBusSignature("a(ia{sv})a(ias)")]

MENU_PATH = "/MenuBar"
INTERFACE = "com.canonical.dbusmenu"
ROOT_ID = 0


def _label(text: str) -> str:
    """dbusmenu reads `_` as a mnemonic marker; a literal one is written twice."""
    return text.replace("_", "__")


def item_properties(row: Row) -> dict[str, Variant]:
    if row.is_separator:
        return {"type": Variant("s", "separator")}
    props = {
        "label": Variant("s", _label(row.text)),
        "enabled": Variant("b", row.enabled),
        "visible": Variant("b", True),
    }
    if row.checked is not None:
        props["toggle-type"] = Variant("s", "radio" if row.radio else "checkmark")
        props["toggle-state"] = Variant("i", 1 if row.checked else 0)
    if row.submenu:
        props["children-display"] = Variant("s", "submenu")
    return props


class MenuTree:
    """Rows with stable ids: a row keeps its id while it keeps its parent, action and its rank
    among siblings with that action."""

    def __init__(self) -> None:
        self.rows: dict[int, Row] = {}
        self.children: dict[int, list[int]] = {ROOT_ID: []}
        self._ids: dict[tuple, int] = {}
        self._next_id = 1

    def replace(self, rows: Sequence[Row]) -> None:
        ids: dict[tuple, int] = {}
        self.rows, self.children = {}, {ROOT_ID: []}
        self._add(ROOT_ID, rows, ids)
        self._ids = ids  # keys of rows that went away are forgotten

    def _add(self, parent: int, rows: Sequence[Row], ids: dict[tuple, int]) -> None:
        seen: dict[tuple, int] = {}
        for row in rows:
            kind = (
                ("separator",)
                if row.is_separator
                else ("action", row.action.kind, repr(row.action.value))
                if row.action is not None
                else ("submenu", row.text)
                if row.submenu
                else ("text",)
            )
            rank = seen.get(kind, 0)
            seen[kind] = rank + 1
            key = (parent, *kind, rank)
            item_id = self._ids.get(key)
            if item_id is None:
                item_id = self._next_id
                self._next_id += 1
            ids[key] = item_id
            self.rows[item_id] = row
            self.children[parent].append(item_id)
            if row.submenu:
                self.children[item_id] = []
                self._add(item_id, row.submenu, ids)

    def properties(self, item_id: int) -> dict[str, Variant]:
        if item_id == ROOT_ID:
            return {"children-display": Variant("s", "submenu")}
        return item_properties(self.rows[item_id])

    def layout(self, item_id: int, depth: int, names: Sequence[str]) -> list[Any]:
        """`(ia{sv}av)`: the item, its properties, and its children to `depth` (-1: all)."""
        props = self.properties(item_id)
        if names:
            props = {k: v for k, v in props.items() if k in names}
        children = []
        if depth != 0:
            children = [
                Variant("(ia{sv}av)", self.layout(child, depth - 1, names))
                for child in self.children.get(item_id, [])
            ]
        return [item_id, props, children]


class DbusMenu(ServiceInterface):
    def __init__(self, on_action: Callable[[Action], None]) -> None:
        super().__init__(INTERFACE)
        self.tree = MenuTree()
        self.revision = 1
        self._on_action = on_action

    def set_rows(self, rows: Sequence[Row]) -> None:
        """New rows (on the bus's loop): the host is told to fetch the layout again."""
        self.tree.replace(rows)
        self.revision += 1
        self.LayoutUpdated()

    def activate(self, item_id: int) -> bool:
        """A click on item `item_id`; False when it is gone or does nothing."""
        row = self.tree.rows.get(item_id)
        if row is None or row.action is None:
            return False
        action = row.action

        def run() -> None:
            try:
                self._on_action(action)
            except Exception:  # a failing action must not take the menu down
                log.exception("menu action %s failed", action.kind)

        threading.Thread(target=run, name=f"codexbar-{action.kind}", daemon=True).start()
        return True

    # -- com.canonical.dbusmenu ---------------------------------------------------------------

    @dbus_property(access=PropertyAccess.READ)
    def Version(self) -> DBusUInt32:
        return 3

    @dbus_property(access=PropertyAccess.READ)
    def TextDirection(self) -> DBusStr:
        return "ltr"

    @dbus_property(access=PropertyAccess.READ)
    def Status(self) -> DBusStr:
        return "normal"

    @dbus_property(access=PropertyAccess.READ)
    def IconThemePath(self) -> Strings:
        return []

    @method()
    def GetLayout(
        self, parentId: DBusInt32, recursionDepth: DBusInt32, propertyNames: Strings
    ) -> RevisionAndLayout:
        if parentId != ROOT_ID and parentId not in self.tree.rows:
            parentId = ROOT_ID  # the host asked about a row that has since gone: show all
        return [self.revision, self.tree.layout(parentId, recursionDepth, propertyNames)]

    @method()
    def GetGroupProperties(self, ids: Ints, propertyNames: Strings) -> GroupProperties:
        wanted = ids or [ROOT_ID, *self.tree.rows]
        result = []
        for item_id in wanted:
            if item_id != ROOT_ID and item_id not in self.tree.rows:
                continue
            props = self.tree.properties(item_id)
            if propertyNames:
                props = {k: v for k, v in props.items() if k in propertyNames}
            result.append([item_id, props])
        return result

    @method()
    def GetProperty(self, id: DBusInt32, name: DBusStr) -> DBusVariant:
        props = self.tree.properties(id) if id == ROOT_ID or id in self.tree.rows else {}
        return props.get(name, Variant("s", ""))

    @method()
    def Event(self, id: DBusInt32, eventId: DBusStr, data: DBusVariant, timestamp: DBusUInt32):
        if eventId == "clicked":
            self.activate(id)

    @method()
    def EventGroup(self, events: Events) -> Ints:
        missing = []
        for item_id, event_id, _data, _timestamp in events:
            if item_id != ROOT_ID and item_id not in self.tree.rows:
                missing.append(item_id)
            elif event_id == "clicked":
                self.activate(item_id)
        return missing

    @method()
    def AboutToShow(self, id: DBusInt32) -> DBusBool:
        return False  # the layout is always current: every change is pushed

    @method()
    def AboutToShowGroup(self, ids: Ints) -> TwoIntLists:
        return [[], [i for i in ids if i != ROOT_ID and i not in self.tree.rows]]

    @signal()
    def LayoutUpdated(self) -> RevisionAndParent:
        return [self.revision, ROOT_ID]

    @signal()
    def ItemsPropertiesUpdated(self) -> PropertyUpdates:
        return [[], []]
