//! A small, hostile-input-safe XML tree for UBL documents.
//!
//! Built on quick-xml's namespace-aware event reader. The tree keeps one copy
//! of the document text; element names, text and attribute values are ranges
//! into it (zero-copy), and only what differs from the source (entity
//! references resolved, line ends normalised, text split by references) goes
//! to a small arena. Children are linked (first child, next sibling), so a
//! 30-line invoice costs a handful of allocations, not thousands.
//!
//! What is refused (each becomes one `PAS` finding, never a panic):
//! DOCTYPE/DTD (so no entity expansion and no external entities at all),
//! entity references other than the five predefined ones and character
//! references, non-UTF-8 input, more than `max_depth` nested elements, more
//! than `max_elements` elements, and anything quick-xml finds ill-formed
//! (truncated files included).

use quick_xml::XmlVersion;
use quick_xml::events::Event;
use quick_xml::name::PrefixDeclaration;
use quick_xml::reader::Reader;

/// Namespaces the validator cares about, by URI (never by prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ns {
    Invoice,
    CreditNote,
    DebitNote,
    AttachedDocument,
    ApplicationResponse,
    Cac,
    Cbc,
    Ext,
    Sts,
    Ds,
    Xades,
    Other,
    None,
}

pub const NS_INVOICE: &str = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2";
pub const NS_CREDIT_NOTE: &str = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2";
pub const NS_DEBIT_NOTE: &str = "urn:oasis:names:specification:ubl:schema:xsd:DebitNote-2";
pub const NS_ATTACHED: &str = "urn:oasis:names:specification:ubl:schema:xsd:AttachedDocument-2";
pub const NS_APP_RESPONSE: &str =
    "urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2";
pub const NS_CAC: &str = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2";
pub const NS_CBC: &str = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2";
pub const NS_EXT: &str = "urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2";
pub const NS_STS: &str = "dian:gov:co:facturaelectronica:Structures-2-1";
/// The 2019 files' structures namespace.
pub const NS_STS_OLD: &str = "http://www.dian.gov.co/contratos/facturaelectronica/v1/Structures";
pub const NS_DS: &str = "http://www.w3.org/2000/09/xmldsig#";
pub const NS_XADES: &str = "http://uri.etsi.org/01903/v1.3.2#";

/// In-scope namespace bindings: (prefix, namespace, depth of the element
/// that declared it). UBL declares a dozen prefixes on the root and rarely
/// anything below, so a reverse scan of a short vector resolves a prefix.
struct Bindings {
    scopes: Vec<(Box<str>, Ns, usize)>,
}

impl Bindings {
    /// The namespace of `prefix` (`b""` = the default namespace).
    fn resolve(&self, prefix: &str) -> Option<Ns> {
        if prefix == "xml" {
            return Some(Ns::Other);
        }
        match self.scopes.iter().rev().find(|(p, _, _)| &**p == prefix) {
            Some((_, ns, _)) => Some(*ns),
            None if prefix.is_empty() => Some(Ns::None),
            None => None,
        }
    }
    /// Leave the element at `depth`: its declarations go out of scope.
    fn close(&mut self, depth: usize) {
        while self.scopes.last().is_some_and(|(_, _, d)| *d >= depth) {
            self.scopes.pop();
        }
    }
}

fn ns_of(uri: &str) -> Ns {
    match uri {
        NS_CBC => Ns::Cbc,
        NS_CAC => Ns::Cac,
        NS_EXT => Ns::Ext,
        NS_STS | NS_STS_OLD => Ns::Sts,
        NS_DS => Ns::Ds,
        NS_XADES => Ns::Xades,
        NS_INVOICE => Ns::Invoice,
        NS_CREDIT_NOTE => Ns::CreditNote,
        NS_DEBIT_NOTE => Ns::DebitNote,
        NS_ATTACHED => Ns::AttachedDocument,
        NS_APP_RESPONSE => Ns::ApplicationResponse,
        _ => Ns::Other,
    }
}

/// Most attributes accepted on one element (UBL uses at most a handful).
pub const MAX_ATTRIBUTES: usize = 64;

/// Most namespace declarations in scope at once (a UBL invoice has about a
/// dozen), which keeps prefix resolution a short scan.
pub const MAX_BINDINGS: usize = 128;

/// Limits on the work one document may cause.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_bytes: usize,
    pub max_depth: usize,
    pub max_elements: usize,
}

/// Why a byte string is not a tree we accept. `code` is a Pasarela code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlProblem {
    pub code: &'static str,
    pub message: String,
}

pub(crate) fn problem(code: &'static str, message: impl Into<String>) -> XmlProblem {
    XmlProblem {
        code,
        message: message.into(),
    }
}

/// The refusals both XML parsers (this tree and `xades::dom`) make, worded once.
pub(crate) mod refuse {
    use super::{XmlProblem, problem};

    /// PAS02: `len` bytes of a `what` ("archivo", "documento") over `max`.
    pub(crate) fn too_big(what: &str, len: usize, max: usize) -> XmlProblem {
        problem(
            "PAS02",
            format!("El {what} pesa {len} bytes y supera el límite de {max} bytes."),
        )
    }

    /// PAS04: a DOCTYPE (entity expansion and external entities).
    pub(crate) fn doctype() -> XmlProblem {
        problem(
            "PAS04",
            "El documento contiene una declaración DOCTYPE/DTD, que no se admite (protección contra expansión de entidades y entidades externas).",
        )
    }

    /// PAS06: nesting deeper than `max`.
    pub(crate) fn too_deep(max: usize) -> XmlProblem {
        problem(
            "PAS06",
            format!("El documento anida más de {max} elementos; se rechaza por seguridad."),
        )
    }

    /// PAS07: more than `max` elements.
    pub(crate) fn too_many_elements(max: usize) -> XmlProblem {
        problem(
            "PAS07",
            format!("El documento tiene más de {max} elementos; se rechaza por seguridad."),
        )
    }

    /// PAS07: more than `MAX_ATTRIBUTES` attributes on one element.
    pub(crate) fn too_many_attributes() -> XmlProblem {
        problem(
            "PAS07",
            format!(
                "Un elemento tiene más de {} atributos; se rechaza por seguridad.",
                super::MAX_ATTRIBUTES
            ),
        )
    }
}

/// A range of the source text, or of the arena when `start` has [`ARENA`] set.
#[derive(Debug, Clone, Copy)]
struct Range {
    start: u32,
    end: u32,
}

/// Marks a [`Range`] into the arena (documents are far below 2 GiB).
const ARENA: u32 = 1 << 31;
/// No node (end of a child or sibling chain).
const NONE: u32 = u32::MAX;

const EMPTY: Range = Range { start: 0, end: 0 };

#[derive(Debug, Clone)]
pub struct Node {
    pub ns: Ns,
    name: Range,
    text: Range,
    attrs: (u32, u32),
    first_child: u32,
    last_child: u32,
    next_sibling: u32,
}

/// An open element while parsing: its node and the text joined so far when
/// its content came in pieces that are not contiguous in the arena.
struct Frame {
    idx: usize,
    pending: String,
}

/// The parsed tree. Node 0 is the root element.
#[derive(Debug, Default)]
pub struct Tree {
    nodes: Vec<Node>,
    /// The document text the ranges point into.
    source: String,
    /// Text that is not a slice of the source (resolved references, joined pieces).
    arena: String,
    /// (name range, value range) per attribute, in document order.
    attrs: Vec<(Range, Range)>,
}

/// A node handle that borrows the tree (cheap to copy).
#[derive(Clone, Copy)]
pub struct El<'t> {
    tree: &'t Tree,
    idx: u32,
}

impl<'t> El<'t> {
    fn node(&self) -> &'t Node {
        &self.tree.nodes[self.idx as usize]
    }
    pub fn ns(&self) -> Ns {
        self.node().ns
    }
    pub fn name(&self) -> &'t str {
        self.tree.str(self.node().name)
    }
    /// Text content, trimmed.
    pub fn text(&self) -> &'t str {
        self.tree.str(self.node().text).trim()
    }
    /// Text content exactly as in the document (CDATA included).
    pub fn raw_text(&self) -> &'t str {
        self.tree.str(self.node().text)
    }
    pub fn attr(&self, name: &str) -> Option<&'t str> {
        let (a, b) = self.node().attrs;
        self.tree.attrs[a as usize..b as usize]
            .iter()
            .find(|(n, _)| self.tree.str(*n) == name)
            .map(|(_, v)| self.tree.str(*v).trim())
    }
    pub fn children(&self) -> impl Iterator<Item = El<'t>> + 't {
        let tree = self.tree;
        let mut next = self.node().first_child;
        std::iter::from_fn(move || {
            if next == NONE {
                return None;
            }
            let idx = next;
            next = tree.nodes[idx as usize].next_sibling;
            Some(El { tree, idx })
        })
    }
    /// Children with this namespace and local name.
    pub fn all(&self, ns: Ns, name: &'static str) -> impl Iterator<Item = El<'t>> + 't {
        self.children()
            .filter(move |c| c.ns() == ns && c.name() == name)
    }
    pub fn child(&self, ns: Ns, name: &'static str) -> Option<El<'t>> {
        self.all(ns, name).next()
    }
    /// Follow a path of (namespace, name) steps, first match at each step.
    pub fn path(&self, steps: &[(Ns, &'static str)]) -> Option<El<'t>> {
        let mut cur = *self;
        for (ns, name) in steps {
            cur = cur.child(*ns, name)?;
        }
        Some(cur)
    }
    /// cbc child text (trimmed), `None` when absent or empty.
    pub fn cbc(&self, name: &'static str) -> Option<&'t str> {
        self.child(Ns::Cbc, name)
            .map(|e| e.text())
            .filter(|t| !t.is_empty())
    }
    /// First descendant (depth-first) with this namespace and name.
    pub fn find(&self, ns: Ns, name: &'static str) -> Option<El<'t>> {
        let mut stack: Vec<El<'t>> = vec![*self];
        while let Some(e) = stack.pop() {
            if e.idx != self.idx && e.ns() == ns && e.name() == name {
                return Some(e);
            }
            let kids: Vec<El<'t>> = e.children().collect();
            stack.extend(kids.into_iter().rev());
        }
        None
    }
}

impl Tree {
    fn str(&self, r: Range) -> &str {
        let (base, start) = if r.start & ARENA != 0 {
            (&self.arena, r.start & !ARENA)
        } else {
            (&self.source, r.start)
        };
        base.get(start as usize..r.end as usize).unwrap_or("")
    }
    pub fn root(&self) -> El<'_> {
        El { tree: self, idx: 0 }
    }
    pub fn element_count(&self) -> usize {
        self.nodes.len()
    }

    /// The range of `s`: zero-copy when it is a slice of the source text
    /// (`base` is the text being parsed, of which `source` is a copy).
    fn span(&mut self, base: &str, s: &str) -> Range {
        let (b, p) = (base.as_ptr() as usize, s.as_ptr() as usize);
        if p >= b && p + s.len() <= b + base.len() {
            let start = (p - b) as u32;
            return Range {
                start,
                end: start + s.len() as u32,
            };
        }
        self.push_arena(s)
    }

    fn push_arena(&mut self, s: &str) -> Range {
        let start = self.arena.len() as u32;
        self.arena.push_str(s);
        Range {
            start: start | ARENA,
            end: self.arena.len() as u32,
        }
    }

    /// Append text to the content of the open element `frame`, keeping it
    /// one range. Linear in the text appended: a piece that cannot extend the
    /// node's range in place (text split by a child's text, mixed content)
    /// goes to the frame's `pending` buffer, which is moved to the arena once
    /// when the element closes ([`Tree::close_text`]). Joining the whole text
    /// again for every piece made mixed content quadratic (a 10 MB document
    /// took 4.5 GiB).
    fn append_text(&mut self, frame: &mut Frame, base: &str, s: &str) {
        if s.is_empty() {
            return;
        }
        let idx = frame.idx;
        let t = self.nodes[idx].text;
        if !frame.pending.is_empty() {
            frame.pending.push_str(s);
        } else if t.start == t.end {
            self.nodes[idx].text = self.span(base, s);
        } else if t.start & ARENA != 0 && t.end == self.arena.len() as u32 {
            self.arena.push_str(s);
            self.nodes[idx].text.end = self.arena.len() as u32;
        } else {
            let mut joined = String::with_capacity(self.str(t).len() + s.len());
            joined.push_str(self.str(t));
            joined.push_str(s);
            frame.pending = joined;
        }
    }

    /// The element of `frame` closes: its joined text (if any) goes to the
    /// arena, copied once.
    fn close_text(&mut self, frame: Frame) {
        if !frame.pending.is_empty() {
            self.nodes[frame.idx].text = self.push_arena(&frame.pending);
        }
    }

    /// Bytes held by the tree beyond the source text (arena, nodes and
    /// attribute table), for tests and diagnostics.
    pub fn retained_bytes(&self) -> usize {
        self.arena.capacity()
            + self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.attrs.capacity() * std::mem::size_of::<(Range, Range)>()
    }

    /// Link `child` as the last child of `parent`.
    fn link(&mut self, parent: usize, child: u32) {
        match self.nodes[parent].last_child {
            NONE => self.nodes[parent].first_child = child,
            last => self.nodes[last as usize].next_sibling = child,
        }
        self.nodes[parent].last_child = child;
    }
}

/// Check the encoding before parsing: UTF-8 (with or without BOM) only.
/// Returns the text without BOM.
pub fn decode_utf8(bytes: &[u8]) -> Result<&str, XmlProblem> {
    let enc_problem = |which: &str| {
        problem(
            "PAS03",
            format!(
                "Codificación no admitida: el archivo está en {which}; DIAN exige UTF-8. Guárdelo como UTF-8 y vuelva a enviarlo."
            ),
        )
    };
    if bytes.starts_with(&[0xFF, 0xFE, 0, 0]) || bytes.starts_with(&[0, 0, 0xFE, 0xFF]) {
        return Err(enc_problem("UTF-32"));
    }
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0x3C, 0x00, 0x3F, 0x00]) {
        return Err(enc_problem("UTF-16LE"));
    }
    if bytes.starts_with(&[0xFE, 0xFF]) || bytes.starts_with(&[0x00, 0x3C, 0x00, 0x3F]) {
        return Err(enc_problem("UTF-16BE"));
    }
    let body = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes);
    // Declared encoding (looked up in the first bytes; the declaration is ASCII).
    if let Some(declared) = declared_encoding(body) {
        let d = declared.to_ascii_lowercase();
        if d != "utf-8" && d != "utf8" {
            return Err(problem(
                "PAS03",
                format!(
                    "Codificación no admitida: el archivo declara encoding=\"{declared}\"; DIAN exige UTF-8."
                ),
            ));
        }
    }
    match std::str::from_utf8(body) {
        Ok(s) => Ok(s),
        // An incomplete sequence at the very end is a truncated file, not a
        // wrong encoding.
        Err(e) if e.error_len().is_none() => Err(problem(
            "PAS10",
            format!(
                "XML mal formado: el archivo está truncado (termina a mitad de un carácter, byte {}).",
                e.valid_up_to()
            ),
        )),
        Err(e) => {
            let at = e.valid_up_to();
            let guess = if body[at..]
                .iter()
                .take(4)
                .any(|b| (0xA0..=0xFF).contains(b) || (0x80..0xA0).contains(b))
            {
                " (parece ISO-8859-1 o Windows-1252)"
            } else {
                ""
            };
            Err(problem(
                "PAS03",
                format!(
                    "Codificación no admitida: el archivo no es UTF-8 válido en el byte {at}{guess}; DIAN exige UTF-8."
                ),
            ))
        }
    }
}

fn declared_encoding(body: &[u8]) -> Option<String> {
    let head = &body[..body.len().min(200)];
    if !head.starts_with(b"<?xml") {
        return None;
    }
    let end = head.windows(2).position(|w| w == b"?>")?;
    let decl = String::from_utf8_lossy(&head[..end]).into_owned();
    let pos = decl.find("encoding")?;
    let rest = decl[pos + "encoding".len()..].trim_start();
    let rest = rest.strip_prefix('=')?.trim_start();
    let quote = rest.chars().next()?;
    if quote != '"' && quote != '\'' {
        return None;
    }
    let inner = &rest[1..];
    let close = inner.find(quote)?;
    Some(inner[..close].to_owned())
}

/// The text of a character reference or of one of XML's five predefined
/// entities; anything else (a DTD's own entities) is refused (PAS05).
pub(crate) fn resolve_ref(r: &quick_xml::events::BytesRef<'_>) -> Result<String, XmlProblem> {
    if r.is_char_ref() {
        return match r.resolve_char_ref() {
            Ok(Some(c)) => Ok(c.to_string()),
            _ => Err(problem(
                "PAS05",
                format!("Referencia de carácter inválida: &{};", &**r),
            )),
        };
    }
    match predefined(r) {
        Some(s) => Ok(s.to_owned()),
        None => Err(problem(
            "PAS05",
            format!(
                "Referencia a la entidad no definida &{}; (no se admiten entidades propias ni DTD).",
                &**r
            ),
        )),
    }
}

fn predefined(name: &str) -> Option<&'static str> {
    Some(match name {
        "amp" => "&",
        "lt" => "<",
        "gt" => ">",
        "apos" => "'",
        "quot" => "\"",
        _ => return None,
    })
}

/// Parse bytes into a tree, refusing anything hostile.
pub fn parse(bytes: &[u8], limits: &Limits) -> Result<Tree, XmlProblem> {
    if bytes.len() > limits.max_bytes {
        return Err(refuse::too_big("archivo", bytes.len(), limits.max_bytes));
    }
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(problem("PAS01", "El archivo está vacío."));
    }
    let text = decode_utf8(bytes)?;
    parse_str(text, limits)
}

/// Parse a UTF-8 string into a tree (used for embedded documents too).
///
/// Long on purpose: the tokenizer is one loop over the input with its state
/// (stack, namespace scopes, limits) in locals; every hostile-input check
/// (PAS03–PAS10) sits at the token it concerns, where it can be audited.
pub fn parse_str(text: &str, limits: &Limits) -> Result<Tree, XmlProblem> {
    let mut reader = Reader::from_str(text);
    {
        let cfg = reader.config_mut();
        cfg.check_end_names = true;
        cfg.expand_empty_elements = false;
        cfg.trim_text(false);
    }
    let mut tree = Tree {
        nodes: Vec::with_capacity(text.len() / 40),
        source: text.to_owned(),
        arena: String::new(),
        attrs: Vec::with_capacity(text.len() / 200),
    };
    let mut stack: Vec<Frame> = Vec::with_capacity(32);
    let mut seen_root = false;
    let mut bindings = Bindings {
        scopes: Vec::with_capacity(16),
    };
    let malformed = |reader: &Reader<&[u8]>, detail: String| {
        problem(
            "PAS10",
            format!(
                "XML mal formado cerca del byte {}: {detail}.",
                reader.buffer_position()
            ),
        )
    };
    loop {
        let event = match reader.read_event() {
            Ok(e) => e,
            Err(e) => return Err(malformed(&reader, e.to_string())),
        };
        match event {
            Event::DocType(_) => {
                return Err(refuse::doctype());
            }
            Event::Start(ref e) | Event::Empty(ref e) => {
                let is_empty = matches!(event, Event::Empty(_));
                if stack.is_empty() && seen_root {
                    return Err(malformed(&reader, "hay más de un elemento raíz".to_owned()));
                }
                if stack.len() >= limits.max_depth {
                    return Err(refuse::too_deep(limits.max_depth));
                }
                if tree.nodes.len() >= limits.max_elements {
                    return Err(refuse::too_many_elements(limits.max_elements));
                }
                seen_root = true;
                let local = e.local_name();
                let name_str: &str = local.as_ref();
                let name = tree.span(text, name_str);
                let a_start = tree.attrs.len() as u32;
                for (n, attr) in e.attributes().enumerate() {
                    // quick-xml checks duplicate attributes linearly, so an
                    // element with huge numbers of attributes costs O(n²).
                    if n >= MAX_ATTRIBUTES {
                        return Err(refuse::too_many_attributes());
                    }
                    let attr = attr.map_err(|err| malformed(&reader, err.to_string()))?;
                    let key = attr.key;
                    if let Some(decl) = key.as_namespace_binding() {
                        let prefix: &str = match decl {
                            PrefixDeclaration::Default => "",
                            PrefixDeclaration::Named(p) => p,
                        };
                        let uri = attr.normalized_value(XmlVersion::Implicit1_0).map_err(
                            |err| {
                                problem(
                                    "PAS05",
                                    format!(
                                        "Referencia de entidad no permitida en un atributo: {err}."
                                    ),
                                )
                            },
                        )?;
                        let ns = if uri.is_empty() {
                            Ns::None
                        } else {
                            ns_of(&uri)
                        };
                        if bindings.scopes.len() >= MAX_BINDINGS {
                            return Err(problem(
                                "PAS10",
                                format!(
                                    "XML mal formado: más de {MAX_BINDINGS} declaraciones de espacios de nombres a la vez."
                                ),
                            ));
                        }
                        bindings.scopes.push((prefix.into(), ns, stack.len()));
                        continue;
                    }
                    let value = attr
                        .normalized_value(XmlVersion::Implicit1_0)
                        .map_err(|err| {
                            problem(
                                "PAS05",
                                format!(
                                    "Referencia de entidad no permitida en un atributo: {err}."
                                ),
                            )
                        })?;
                    let kl = key.local_name();
                    let kname: &str = kl.as_ref();
                    let kr = tree.span(text, kname);
                    let vr = tree.span(text, &value);
                    tree.attrs.push((kr, vr));
                }
                let a_end = tree.attrs.len() as u32;
                let qname = e.name();
                let prefix: &str = qname.prefix().map(|p| p.into_inner()).unwrap_or("");
                let Some(resolved) = bindings.resolve(prefix) else {
                    return Err(problem(
                        "PAS10",
                        format!(
                            "XML mal formado: el prefijo de espacio de nombres \"{}\" no está declarado.",
                            prefix
                        ),
                    ));
                };
                let idx = tree.nodes.len();
                tree.nodes.push(Node {
                    ns: resolved,
                    name,
                    text: EMPTY,
                    attrs: (a_start, a_end),
                    first_child: NONE,
                    last_child: NONE,
                    next_sibling: NONE,
                });
                if let Some(parent) = stack.last() {
                    tree.link(parent.idx, idx as u32);
                }
                if is_empty {
                    bindings.close(stack.len());
                } else {
                    stack.push(Frame {
                        idx,
                        pending: String::new(),
                    });
                }
            }
            Event::End(_) => {
                if let Some(frame) = stack.pop() {
                    tree.close_text(frame);
                }
                bindings.close(stack.len());
            }
            Event::Text(t) => {
                let content = t.xml10_content();
                match stack.last_mut() {
                    // Indentation between child elements is not content.
                    Some(f)
                        if tree.nodes[f.idx].first_child != NONE && content.trim().is_empty() => {}
                    Some(f) => tree.append_text(f, text, &content),
                    None => {
                        if !content.trim().is_empty() {
                            return Err(malformed(
                                &reader,
                                "texto fuera del elemento raíz".to_owned(),
                            ));
                        }
                    }
                }
            }
            Event::CData(c) => {
                let content = c.xml10_content();
                if let Some(f) = stack.last_mut() {
                    tree.append_text(f, text, &content);
                }
            }
            Event::GeneralRef(r) => {
                let resolved_text = resolve_ref(&r)?;
                if let Some(f) = stack.last_mut() {
                    tree.append_text(f, text, &resolved_text);
                }
            }
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
        }
    }
    if !stack.is_empty() {
        let open = stack
            .last()
            .map(|f| tree.str(tree.nodes[f.idx].name).to_owned())
            .unwrap_or_default();
        return Err(problem(
            "PAS10",
            format!("XML mal formado: el archivo está truncado (falta cerrar <{open}>)."),
        ));
    }
    if !seen_root {
        return Err(problem("PAS10", "XML mal formado: no hay elemento raíz."));
    }
    Ok(tree)
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: Limits = Limits {
        max_bytes: 1 << 20,
        max_depth: 50,
        max_elements: 10_000,
    };

    #[test]
    fn namespace_scopes_follow_the_elements() {
        let t = parse(
            br#"<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2" xmlns:c="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">
              <c:ID>1</c:ID>
              <c:Note xmlns:c="urn:other"><c:Inner/></c:Note>
              <Plain xmlns=""><c:ID>2</c:ID></Plain>
              <e:Ext xmlns:e="urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2"/>
              <c:After/>
            </Invoice>"#,
            &L,
        )
        .unwrap();
        let r = t.root();
        assert_eq!(r.ns(), Ns::Invoice, "default namespace");
        let kids: Vec<(Ns, &str)> = r.children().map(|c| (c.ns(), c.name())).collect();
        assert_eq!(
            kids,
            [
                (Ns::Cbc, "ID"),
                (Ns::Other, "Note"), // c rebound on the element itself
                (Ns::None, "Plain"), // xmlns="" undeclares the default
                (Ns::Ext, "Ext"),
                (Ns::Cbc, "After"), // the rebinding ended with <c:Note>
            ]
        );
        let note = r.children().nth(1).unwrap();
        assert_eq!(note.children().next().unwrap().ns(), Ns::Other);
        let plain = r.children().nth(2).unwrap();
        assert_eq!(plain.child(Ns::Cbc, "ID").unwrap().text(), "2");
        // A prefix used outside the element that declared it is an error.
        let e = parse(br#"<a xmlns:p="urn:x"><p:b/></a><!-- --><p:c/>"#, &L).unwrap_err();
        assert_eq!(e.code, "PAS10");
        let e = parse(br#"<a><b xmlns:p="urn:x"/><p:c/></a>"#, &L).unwrap_err();
        assert_eq!(e.code, "PAS10", "{}", e.message);
    }

    #[test]
    fn namespaces_by_uri() {
        let t = parse(
            br#"<x:Invoice xmlns:x="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2" xmlns:b="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"><b:ID a="1 &amp; 2">A &amp; B&#65;</b:ID></x:Invoice>"#,
            &L,
        )
        .unwrap();
        let r = t.root();
        assert_eq!(r.ns(), Ns::Invoice);
        let id = r.child(Ns::Cbc, "ID").unwrap();
        assert_eq!(id.text(), "A & BA");
        assert_eq!(id.attr("a"), Some("1 & 2"));
    }

    #[test]
    fn refuses_doctype_and_unknown_entities() {
        let e = parse(b"<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>", &L).unwrap_err();
        assert_eq!(e.code, "PAS04");
        let e = parse(b"<a>&x;</a>", &L).unwrap_err();
        assert_eq!(e.code, "PAS05");
    }

    /// Mixed content: text interleaved with children holding references.
    fn mixed(pieces: usize, chunk: usize) -> String {
        let mut s = String::from("<a>");
        for i in 0..pieces {
            s.push_str(&"x".repeat(chunk));
            s.push_str(&format!("<b>&#{};</b>", 65 + i % 26));
        }
        s.push_str("tail</a>");
        s
    }

    #[test]
    fn mixed_content_is_joined_once() {
        let t = parse(b"<a>one<b>&#65;</b>two &amp; <c/>three</a>", &L).unwrap();
        // Whitespace-only text after a child is indentation, not content.
        assert_eq!(t.root().raw_text(), "onetwo &three");
        assert_eq!(t.root().children().next().unwrap().text(), "A");
        // Text split by references inside a child of a mixed parent.
        let t = parse(b"<a>p<b>x&lt;y</b>q<b>&#66;</b>r</a>", &L).unwrap();
        assert_eq!(t.root().raw_text(), "pqr");
        let kids: Vec<&str> = t.root().children().map(|c| c.text()).collect();
        assert_eq!(kids, ["x<y", "B"]);
    }

    #[test]
    fn retained_memory_is_linear_in_the_input() {
        // 500 pieces of 200 bytes: 100 KB of input. Joining the whole text
        // again per piece retained about 25 MB in the arena.
        let doc = mixed(500, 200);
        let t = parse(doc.as_bytes(), &L).unwrap();
        assert_eq!(t.root().raw_text().len(), 500 * 200 + 4);
        assert_eq!(t.element_count(), 501);
        assert!(
            t.retained_bytes() <= 4 * doc.len() + 4096,
            "{} bytes retained for {} bytes of input",
            t.retained_bytes(),
            doc.len()
        );
        // The same bound holds at every size (no super-linear term).
        let big = mixed(5_000, 100);
        let t = parse(
            big.as_bytes(),
            &Limits {
                max_bytes: 1 << 24,
                ..L
            },
        )
        .unwrap();
        assert!(t.retained_bytes() <= 4 * big.len() + 4096);
    }

    #[test]
    fn truncated() {
        let e = parse(b"<a><b>1</b>", &L).unwrap_err();
        assert_eq!(e.code, "PAS10");
    }
}
