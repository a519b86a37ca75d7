"""HTML that the HTML5 tree builder (lexbor, under selectolax) reads in linear time.

An HTML5 tree builder does work per token in proportion to the depth of its stack of open
elements (the scope checks of most tags), re-creates every formatting element left open (<b>,
<font>, ...) at each new block of text, looks through a <select>'s options at each new option and
compares each attribute of a tag with the ones before it. On real pages all of these are small; a
hostile document makes each one quadratic: 40,000 nested <div> take lexbor 7 s (3 MB of them,
half an hour), 20,000 options in a <select> 1-5 s, 5,000 <b id=N> left open across paragraphs
exhaust the memory.

bounded() follows the tree builder's rules closely enough to never estimate less than what lexbor
builds (where a rule is hard to follow, it assumes the deeper outcome), and deletes the tags that
would take a document past a limit. Text is never deleted; what goes is the structure beyond the
limits, as browsers do (Chromium stops nesting at 512). A document within the limits, which is
every ordinary page, comes back unchanged: the same string object.
"""

from __future__ import annotations

import re

MAX_DEPTH = 256        # open elements, formatting elements waiting to be re-created included
MAX_PENDING = 8        # formatting elements closed implicitly, re-created at each block of text
MAX_OPTIONS = 512      # <option>/<optgroup> in one <select>
MAX_ATTRIBUTES = 256   # attributes of one tag

# The attributes of a tag as the tokenizer reads them (a quoted value may hold '>'), possessive
# throughout: one attempt reads to the tag's end, never back.
_ATTRIBUTE = (r"""[^\t\n\f\r />][^\t\n\f\r /=>]*+"""  # a name, then perhaps = and a value
              r"""(?:[\t\n\f\r ]*+=[\t\n\f\r ]*+(?:"[^"]*+"|'[^']*+'|[^\t\n\f\r >]*+))?+""")
# After '<': a whole start or end tag (1: "/" of an end tag, 2: the name, 3: the attributes, 4: "/"
# of <x/>); or the opening of a comment (5); of a doctype or bogus comment (`<!`, `<?`, `</` and no
# letter); or a tag the end of the document cuts off (6: its first letter, nothing after it counts).
_TOKEN = re.compile(r"<(?:(/?)([A-Za-z][^\t\n\f\r />]*+)((?:[\t\n\f\r ]++|/(?!>)|" + _ATTRIBUTE + r")*+)(/?)>"
                    r"|(!--)|[!?/]|([A-Za-z]))")
_ATTRIBUTES = re.compile(_ATTRIBUTE)

_VOID = frozenset("area base br col embed hr img image input keygen link meta param source track wbr basefont bgsound "
                  "frame".split())
_IGNORED = frozenset("html head body frameset".split())   # never a second element of their own in a body
_RAW_TEXT = frozenset("script style xmp iframe noembed noframes title textarea".split())  # no tags inside
_FORMATTING = frozenset("a b big code em font i nobr s small strike strong tt u".split())
_MARKERS = frozenset("applet object marquee template td th caption".split())
_SPECIAL = frozenset(
    "address applet area article aside base basefont bgsound blockquote body br button caption center col colgroup "
    "dd details dir div dl dt embed fieldset figcaption figure footer form frame frameset h1 h2 h3 h4 h5 h6 head "
    "header hgroup hr html iframe img input keygen li link listing main marquee menu meta nav noembed noframes "
    "noscript object ol p param plaintext pre script search section select source style summary table tbody td "
    "template textarea tfoot th thead title tr track ul wbr xmp mi mo mn ms mtext annotation-xml foreignobject "
    "desc".split())
_SCOPE = frozenset("applet caption html table td th marquee object template mi mo mn ms mtext annotation-xml "
                   "foreignobject desc title".split())
_CLOSES_P = frozenset("address article aside blockquote center details dialog dir div dl fieldset figcaption figure "
                      "footer header hgroup main menu nav ol p search section summary ul h1 h2 h3 h4 h5 h6 pre "
                      "listing form li dd dt plaintext hr".split())
_HEADINGS = frozenset("h1 h2 h3 h4 h5 h6".split())
_TABLE_PARTS = frozenset("td th tr tbody thead tfoot caption colgroup col".split())
_SECTIONS = ("tbody", "thead", "tfoot")
# In SVG and MathML, where these are HTML again (integration points), and the HTML tags that end
# SVG or MathML content wherever they appear (<font> with a color, face or size).
_SVG_INTEGRATION = frozenset("foreignobject desc title".split())
_MATH_INTEGRATION = frozenset("mi mo mn ms mtext".split())
_HTML_ENCODING = re.compile(r"""encoding[\t\n\f\r ]*+=[\t\n\f\r ]*+["']?(?:text/html|application/xhtml\+xml)"""
                            r"""["'\t\n\f\r /]""", re.IGNORECASE)  # <annotation-xml encoding="text/html">
HTML, SVG, MATHML, SVG_HTML, MATHML_HTML = range(5)  # what each open element is: integration points last
_BREAKOUT = frozenset("b big blockquote body br center code dd div dl dt em embed h1 h2 h3 h4 h5 h6 head hr i img li "
                      "listing menu meta nobr ol p pre ruby s small span strong strike sub sup table tt u ul "
                      "var".split())
# Names with positions kept in the lists of special elements and scope boundaries.
_INDEXED = _SPECIAL | _SCOPE | {"button", "svg", "math"}
# Everything else opens an element and closes nothing (by the rules followed here): most tags.
_NOT_PLAIN = _VOID | _IGNORED | _RAW_TEXT | _FORMATTING | _MARKERS | _SPECIAL | _SCOPE | _CLOSES_P | _TABLE_PARTS | {
    "button", "option", "optgroup", "select", "svg", "math", "plaintext"}


def _font_breaks_out(attributes: str) -> bool:
    return any(attribute.split("=", 1)[0].strip().lower() in ("color", "face", "size")
               for attribute in _ATTRIBUTES.findall(attributes))


def bounded(markup: str) -> str:
    """The markup, with the tags deleted that would take an HTML5 parser past the limits above."""
    if len(markup) <= 2 * MAX_ATTRIBUTES:
        return markup  # too short to reach any limit
    return _Bounds(markup).run()


class _Bounds:
    def __init__(self, markup: str) -> None:
        self.markup = markup
        self.lowered: str | None = None
        self.names: list[str] = []                 # the stack of open elements, as modelled
        self.keys: list[str | None] = []           # a formatting element's name and attributes
        self.spans: list[tuple[int, int]] = []     # where each start tag is, to delete it later
        self.at: dict[str, list[int]] = {}         # stack positions by element name
        self.special: list[int] = []               # positions of special elements
        self.scope: list[int] = []                 # positions of scope boundaries
        self.button: list[int] = []                # ... and <button> (the scope a <p> closes in)
        self.li_stops: list[int] = []              # special but for address, div, p (where <li> stops)
        self.markers: list[int] = []               # orphan counts when each marker element opened
        self.options: list[int] = []               # options read in each open <select>
        self.orphans: list[tuple[str, str, tuple[int, int]]] = []  # formatting elements to re-create
        self.orphan_count: dict[str, int] = {}
        self.dropped: dict[str, int] = {}          # start tags deleted whose end tag is still to come
        self.cuts: list[tuple[int, int, str]] = []
        self.foreign: list[int] = []               # HTML, SVG, MATHML, or an integration point

    def run(self) -> str:
        text, find = self.markup, _TOKEN.search
        names, keys, spans, at, dropped = self.names, self.keys, self.spans, self.at, self.dropped
        foreign = self.foreign
        special, li_stops, scope, button = self.special, self.li_stops, self.scope, self.button
        pos = 0
        while True:
            match = find(text, pos)
            if match is None:
                break
            slash, name, attributes, self_closing, comment, cut_off = match.groups()
            if name is None:
                if cut_off:
                    break  # a tag cut off by the end of the document: no element
                pos = self._skip_markup_declaration(match, comment)
                continue
            start, pos = match.span()
            name = name.lower()
            if slash:
                # The common case first: the end tag of the current element, closing nothing else.
                last = at.get(name)
                if last and last[-1] == len(names) - 1 and name not in _MARKERS and name != "select" \
                        and not (dropped and dropped.get(name)):
                    i = last.pop()
                    names.pop()
                    keys.pop()
                    spans.pop()
                    foreign.pop()
                    if name in _INDEXED:
                        for positions in (special, li_stops, scope, button):
                            if positions and positions[-1] == i:
                                positions.pop()
                else:
                    self._end_tag(name, start, pos)
                continue
            if len(attributes) > 2 * MAX_ATTRIBUTES and len(_ATTRIBUTES.findall(attributes)) > MAX_ATTRIBUTES:
                self.cuts.append((start, pos, f"<{name}/>" if self_closing else f"<{name}>"))
                attributes = ""
            if foreign and (foreign[-1] == SVG or foreign[-1] == MATHML):  # in SVG or MathML content
                if name not in _BREAKOUT and not (name == "font" and _font_breaks_out(attributes)):
                    if not self_closing:  # any tag but <x/> nests
                        self._push(name, None, start, pos, foreign[-1], attributes)
                    continue
                i = len(names)  # an HTML tag: the SVG or MathML elements around it end first
                while i and (foreign[i - 1] == SVG or foreign[i - 1] == MATHML):
                    i -= 1
                self._pop_to(i)
            if name not in _NOT_PLAIN:
                if len(names) + len(self.orphans) >= MAX_DEPTH:
                    self._drop(name, start, pos)
                else:
                    at.setdefault(name, []).append(len(names))
                    names.append(name)
                    keys.append(None)
                    spans.append((start, pos))
                    foreign.append(HTML)
            elif self._start_tag(name, attributes, start, pos, self_closing):
                break  # <plaintext>: the rest is text
            elif name in _RAW_TEXT:
                pos = self._skip_raw_text(name, pos)
        if not self.cuts:
            return text
        out, last_end = [], 0
        for cut_start, cut_end, replacement in sorted(self.cuts):
            if cut_start < last_end:
                continue
            out.append(text[last_end:cut_start])
            out.append(replacement)
            last_end = cut_end
        out.append(text[last_end:])
        return "".join(out)

    # --- the tokenizer's detours ---------------------------------------------------------------

    def _skip_markup_declaration(self, match: re.Match, comment: str | None) -> int:
        text = self.markup
        if comment:  # <!-- ... --> (or --!>); "<!-->" is a whole comment
            ends = [i for i in (text.find("-->", match.start() + 2), text.find("--!>", match.start() + 2)) if i >= 0]
            if not ends:
                return len(text)
            close = min(ends)
            return close + (3 if text.startswith("-->", close) else 4)
        if match.group(0) == "</" and text.startswith(">", match.end()):
            return match.end() + 1  # "</>" is dropped
        close = text.find(">", match.end())
        return len(text) if close < 0 else close + 1

    def _skip_raw_text(self, name: str, pos: int) -> int:
        if self.lowered is None:
            self.lowered = self.markup.lower()
        close = self.lowered.find("</" + name, pos)
        return len(self.markup) if close < 0 else close

    # --- start tags ---------------------------------------------------------------------------

    def _start_tag(self, name: str, attributes: str, start: int, end: int, self_closing: str = "") -> bool:
        """Model one start tag in an HTML context; True when the rest of the document is text."""
        if name in _IGNORED or name in _RAW_TEXT or (self_closing and name in ("svg", "math")):
            return False
        if name in _TABLE_PARTS:
            self._table_part(name, start, end)
            return False
        if name in _VOID:
            if name == "hr":
                self._close_p()
            return False
        # Every other start tag opens one element. Too deep, or one option too many: the tag goes
        # (before anything it would close is closed, as it will not be there).
        if len(self.names) + len(self.orphans) >= MAX_DEPTH:
            self._drop(name, start, end)
            return False
        if name == "form" and self.at.get("form") and not self._html_templates():
            return False  # no form inside a form: the tag is ignored
        if name in ("option", "optgroup") and self.options:
            self.options[-1] += 1
            if self.options[-1] > MAX_OPTIONS:
                self._drop(name, start, end)
                return False
        if name in _CLOSES_P:
            if name == "li":
                self._close_list_item(("li",))
            elif name in ("dd", "dt"):
                self._close_list_item(("dd", "dt"))
            self._close_p()
            if name in _HEADINGS and self.names and self.names[-1] in _HEADINGS:
                self._pop_to(len(self.names) - 1)
        elif name in ("option", "optgroup"):
            if self.names and self.names[-1] == "option":
                self._pop_to(len(self.names) - 1)
        elif name == "table" and self.at.get("table"):
            table = self.at["table"][-1]  # a table read where the open one expects rows closes it
            templates = self._html_templates()
            if self._last_of(("td", "th", "caption"), table) is None and not (templates and templates[-1] > table):
                self._pop_to(table)
        elif name == "button":  # a <button> open in scope is closed first
            last = self.at.get("button")
            if last and (not self.scope or self.scope[-1] < last[-1]):
                self._pop_to(last[-1], own=True)
        elif name == "a":  # the last <a> kept is closed first (or forgotten, if closed already)
            last = self.at.get("a")
            floor = self.markers[-1] if self.markers else 0
            newer = False
            for i in range(len(self.orphans) - 1, floor - 1, -1):
                if self.orphans[i][0] == "a":
                    newer = newer or not last or self.orphans[i][2][0] > self.spans[last[-1]][0]
                    self._forget_orphan(i)
            if last and not newer and (not self.special or self.special[-1] < last[-1]):
                self._pop_to(last[-1], own=True)
        key = f"{name} {attributes.strip()}" if name in _FORMATTING else None
        self._push(name, key, start, end)
        return name == "plaintext"

    def _table_part(self, name: str, start: int, end: int) -> None:
        tables, templates = self.at.get("table"), self._html_templates()
        if not tables or (templates and templates[-1] > tables[-1]):
            if templates:  # inside <template> these are ordinary elements
                self._push(name, None, start, end)
            return  # outside a table the tree builder ignores them
        table = tables[-1]
        if name in ("td", "th"):
            row = self._last_of(("tr",), table)
            if row is not None:
                self._pop_to(row + 1, implied=(name,), start=start, end=end)
                return
            section = self._last_of(_SECTIONS, table)
            if section is not None:
                self._pop_to(section + 1, implied=("tr", name), start=start, end=end)
            else:
                self._pop_to(table + 1, implied=("tbody", "tr", name), start=start, end=end)
        elif name == "tr":
            section = self._last_of(_SECTIONS, table)
            if section is not None:
                self._pop_to(section + 1, implied=(name,), start=start, end=end)
            else:
                self._pop_to(table + 1, implied=("tbody", name), start=start, end=end)
        else:  # a section, caption, colgroup, or col (which opens a colgroup)
            self._pop_to(table + 1, implied=("colgroup" if name == "col" else name,), start=start, end=end)

    def _html_templates(self) -> list[int]:
        return [i for i in self.at.get("template") or () if not self.foreign[i]]

    def _last_of(self, names: tuple[str, ...], floor: int) -> int | None:
        best = None
        for name in names:
            at = self.at.get(name)
            if at and at[-1] > floor and (best is None or at[-1] > best):
                best = at[-1]
        return best

    def _close_p(self) -> None:
        at = self.at.get("p")
        if at and (not self.button or self.button[-1] < at[-1]):
            self._pop_to(at[-1])

    def _close_list_item(self, names: tuple[str, ...]) -> None:
        found = self._last_of(names, -1)
        if found is not None and (not self.li_stops or self.li_stops[-1] <= found):
            self._pop_to(found)

    # --- end tags -----------------------------------------------------------------------------

    def _end_tag(self, name: str, start: int, end: int) -> None:
        if self.dropped.get(name):
            self.dropped[name] -= 1
            self.cuts.append((start, end, ""))
            return
        if name in ("body", "html", "br"):
            return  # they close nothing
        at = self.at.get(name)
        if name in _FORMATTING:
            # The tree builder takes the last such element it keeps: when that is one closed already
            # (waiting to be re-created, or re-created), it is forgotten and nothing else is closed.
            floor = self.markers[-1] if self.markers else 0
            for i in range(len(self.orphans) - 1, floor - 1, -1):
                if self.orphans[i][0] == name:
                    if not at or self.orphans[i][2][0] > self.spans[at[-1]][0]:
                        self._forget_orphan(i)
                        return
                    break
        if not at:
            return
        last = at[-1]
        if name == "form":  # takes out the form alone: modelled when it is the current element
            if last == len(self.names) - 1:
                self._pop_to(last, own=True)
            return
        if name == "table" or name in _TABLE_PARTS:  # closes whatever is open inside, within the table
            tables, templates = self.at.get("table"), self._html_templates()
            if name != "table" and not tables:
                return  # outside a table the tree builder ignores them
            floor = max(templates[-1] if templates else -1, -1 if name == "table" else tables[-1])
            if last > floor:
                self._pop_to(last, own=True)
            return
        if name in _SPECIAL:  # closes only within its scope (<p>: button scope; <li>: list-item scope)
            blockers = self.button if name == "p" else self.scope
            if blockers and blockers[-1] > last:
                return
            if name == "li" and self._last_of(("ol", "ul"), last) is not None:
                return
        elif self.special and self.special[-1] > last:
            return  # a special element in between: ignored (or, for <b> and such, moved about)
        self._pop_to(last, own=True)

    # --- the stack ----------------------------------------------------------------------------

    def _push(self, name: str, key: str | None, start: int, end: int, space: int = HTML, attributes: str = "") -> None:
        if len(self.names) + len(self.orphans) >= MAX_DEPTH:
            self._drop(name, start, end)
            return
        i = len(self.names)
        self.names.append(name)
        self.keys.append(key)
        self.spans.append((start, end))
        self.at.setdefault(name, []).append(i)
        if name in _SPECIAL:
            self.special.append(i)
            if name not in ("address", "div", "p"):
                self.li_stops.append(i)
        if name in _SCOPE:
            self.scope.append(i)
            self.button.append(i)
        elif name == "button":
            self.button.append(i)
        if name == "select":
            self.options.append(0)
        if space == SVG:
            space = SVG_HTML if name in _SVG_INTEGRATION else SVG
        elif space == MATHML:
            space = MATHML_HTML if name in _MATH_INTEGRATION or (
                name == "annotation-xml" and _HTML_ENCODING.search(attributes + " ")) else MATHML
        else:
            space = SVG if name == "svg" else MATHML if name == "math" else HTML
        self.foreign.append(space)
        if name in _MARKERS and space == HTML:  # (an <object> in SVG is no marker)
            self.markers.append(len(self.orphans))

    def _drop(self, name: str, start: int, end: int) -> None:
        self.cuts.append((start, end, ""))
        self.dropped[name] = self.dropped.get(name, 0) + 1

    def _pop_to(self, index: int, own: bool = False, implied: tuple[str, ...] = (), start: int = 0,
                end: int = 0) -> None:
        """Pop the elements from `index` up; `own`: the one at `index` is closed by its own end tag.
        `implied`: then push these, the last being the tag at start:end (dropped if too deep)."""
        if implied and len(self.names) + len(self.orphans) + len(implied) > MAX_DEPTH:
            self._drop(implied[-1], start, end)
            return
        names = self.names
        while len(names) > index:
            i = len(names) - 1
            name = names.pop()
            key = self.keys.pop()
            span = self.spans.pop()
            self.at[name].pop()
            if self.special and self.special[-1] == i:
                self.special.pop()
            if self.li_stops and self.li_stops[-1] == i:
                self.li_stops.pop()
            if self.scope and self.scope[-1] == i:
                self.scope.pop()
            if self.button and self.button[-1] == i:
                self.button.pop()
            space = self.foreign.pop()
            if name in _MARKERS and space == HTML:
                floor = self.markers.pop()
                while len(self.orphans) > floor:
                    self._forget_orphan(len(self.orphans) - 1)
            if name == "select":
                self.options.pop()
            if key is not None and not (own and i == index):
                self._orphan(name, key, span)
        for k, name in enumerate(implied):  # elements the tree builder supplies (<tbody>, <tr>), then the tag's own
            self._push(name, None, start if k == len(implied) - 1 else end, end)

    def _orphan(self, name: str, key: str, span: tuple[int, int]) -> None:
        """A formatting element closed by another tag: the tree builder re-creates it later."""
        if self.orphan_count.get(key, 0) >= 3:
            return  # no more than three alike are kept (the "Noah's Ark" clause)
        if len(self.orphans) >= MAX_PENDING:
            self.cuts.append((span[0], span[1], ""))
            return
        self.orphans.append((name, key, span))
        self.orphan_count[key] = self.orphan_count.get(key, 0) + 1

    def _forget_orphan(self, i: int) -> None:
        _, key, _ = self.orphans.pop(i)
        self.orphan_count[key] -= 1
