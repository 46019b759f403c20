//! A small DOM that keeps what canonicalisation needs and `dian::xml` drops:
//! namespace declarations, attribute prefixes, whitespace-only text,
//! comments and processing instructions, in document order.
//!
//! Same hostile-input stance as `dian::xml` (each refusal is an
//! [`XmlProblem`] with a `PAS` code, never a panic): UTF-8 only, no DOCTYPE
//! (so no entity expansion at all), only the five predefined entities and
//! character references, bounded size, depth, element count, attributes per
//! element and namespace declarations in scope.

use quick_xml::XmlVersion;
use quick_xml::events::Event;
use quick_xml::name::PrefixDeclaration;
use quick_xml::reader::Reader;

use crate::dian::xml::{
    Limits, MAX_ATTRIBUTES, MAX_BINDINGS, XmlProblem, decode_utf8, problem, refuse, resolve_ref,
};

/// The namespace bound to the `xml` prefix (never declared, always in scope).
pub const NS_XML: &str = "http://www.w3.org/XML/1998/namespace";

/// Index of a node in [`Dom::nodes`].
pub type NodeId = usize;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attr {
    pub prefix: String,
    pub local: String,
    /// Namespace URI ("" for an unprefixed attribute).
    pub ns: String,
    /// Normalised value (XML 1.0 §3.3.3, all attributes CDATA: no DTD).
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub prefix: String,
    pub local: String,
    /// Namespace URI of the element ("" for none).
    pub ns: String,
    /// Namespace declarations on this element: (prefix, URI); prefix "" is
    /// the default namespace, URI "" undeclares it (`xmlns=""`).
    pub decls: Vec<(String, String)>,
    /// Attributes other than namespace declarations, in document order.
    pub attrs: Vec<Attr>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Element(Element),
    /// Character data (text, CDATA and references joined), line ends normalised.
    Text(String),
    Comment(String),
    Pi {
        target: String,
        data: String,
    },
}

#[derive(Debug, Clone)]
pub struct Node {
    pub kind: Kind,
    pub parent: Option<NodeId>,
    pub children: Vec<NodeId>,
}

/// A parsed document. `top` holds the document's children in order (the
/// root element plus comments and processing instructions around it).
#[derive(Debug, Clone)]
pub struct Dom {
    pub nodes: Vec<Node>,
    pub top: Vec<NodeId>,
    pub root: NodeId,
}

impl Dom {
    pub fn element(&self, id: NodeId) -> Option<&Element> {
        match &self.nodes[id].kind {
            Kind::Element(e) => Some(e),
            _ => None,
        }
    }

    /// Child elements of `id`.
    pub fn child_elements(&self, id: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        self.nodes[id]
            .children
            .iter()
            .copied()
            .filter(|c| matches!(self.nodes[*c].kind, Kind::Element(_)))
    }

    /// First child element with this namespace and local name.
    pub fn child(&self, id: NodeId, ns: &str, local: &str) -> Option<NodeId> {
        self.children_named(id, ns, local).next()
    }

    pub fn children_named<'a>(
        &'a self,
        id: NodeId,
        ns: &'a str,
        local: &'a str,
    ) -> impl Iterator<Item = NodeId> + 'a {
        self.child_elements(id)
            .filter(move |c| self.is(*c, ns, local))
    }

    pub fn is(&self, id: NodeId, ns: &str, local: &str) -> bool {
        self.element(id)
            .is_some_and(|e| e.ns == ns && e.local == local)
    }

    /// Value of the unprefixed attribute `local`.
    pub fn attr(&self, id: NodeId, local: &str) -> Option<&str> {
        self.element(id)?
            .attrs
            .iter()
            .find(|a| a.ns.is_empty() && a.local == local)
            .map(|a| a.value.as_str())
    }

    /// All character data below `id`, in document order.
    pub fn text(&self, id: NodeId) -> String {
        let mut out = String::new();
        let mut stack = vec![id];
        while let Some(n) = stack.pop() {
            match &self.nodes[n].kind {
                Kind::Text(t) => out.push_str(t),
                Kind::Element(_) => stack.extend(self.nodes[n].children.iter().rev()),
                _ => {}
            }
        }
        out
    }

    /// Every element in document order (pre-order), starting at the root.
    pub fn elements(&self) -> impl Iterator<Item = NodeId> + '_ {
        let mut stack = vec![self.root];
        std::iter::from_fn(move || {
            let n = stack.pop()?;
            stack.extend(self.child_elements(n).collect::<Vec<_>>().into_iter().rev());
            Some(n)
        })
    }

    /// First element (document order) with this namespace and local name.
    pub fn find(&self, ns: &str, local: &str) -> Option<NodeId> {
        self.elements().find(|e| self.is(*e, ns, local))
    }

    /// Descendants of `id` (excluding it) with this namespace and name.
    pub fn descendants_named(&self, id: NodeId, ns: &str, local: &str) -> Vec<NodeId> {
        let mut out = Vec::new();
        let mut stack: Vec<NodeId> = self.child_elements(id).collect();
        stack.reverse();
        while let Some(n) = stack.pop() {
            if self.is(n, ns, local) {
                out.push(n);
            }
            let kids: Vec<NodeId> = self.child_elements(n).collect();
            stack.extend(kids.into_iter().rev());
        }
        out
    }

    /// True when `id` is `ancestor` or lies below it.
    pub fn is_within(&self, mut id: NodeId, ancestor: NodeId) -> bool {
        loop {
            if id == ancestor {
                return true;
            }
            match self.nodes[id].parent {
                Some(p) => id = p,
                None => return false,
            }
        }
    }

    /// The namespace bindings in scope at element `id` (prefix → URI, the
    /// nearest declaration wins; a default undeclared by `xmlns=""` maps to "").
    pub fn in_scope(&self, id: NodeId) -> Vec<(String, String)> {
        let mut chain = Vec::new();
        let mut cur = Some(id);
        while let Some(n) = cur {
            chain.push(n);
            cur = self.nodes[n].parent;
        }
        let mut scope: Vec<(String, String)> = Vec::new();
        for n in chain.into_iter().rev() {
            if let Some(e) = self.element(n) {
                for (p, u) in &e.decls {
                    match scope.iter_mut().find(|(sp, _)| sp == p) {
                        Some(slot) => slot.1 = u.clone(),
                        None => scope.push((p.clone(), u.clone())),
                    }
                }
            }
        }
        scope
    }
}

struct Frame {
    id: NodeId,
    /// Number of namespace bindings pushed by this element.
    bindings: usize,
}

/// Parse bytes (UTF-8, BOM allowed) into a [`Dom`].
pub fn parse(bytes: &[u8], limits: &Limits) -> Result<Dom, XmlProblem> {
    if bytes.len() > limits.max_bytes {
        return Err(refuse::too_big("archivo", bytes.len(), limits.max_bytes));
    }
    parse_str(decode_utf8(bytes)?, limits)
}

/// Parse a UTF-8 string into a [`Dom`]. Long on purpose: one event loop over
/// quick-xml's reader where every limit (depth, elements, attributes,
/// namespaces, bytes) is checked at the event that can exceed it, as in
/// `dian::xml::parse_str`.
pub fn parse_str(text: &str, limits: &Limits) -> Result<Dom, XmlProblem> {
    if text.len() > limits.max_bytes {
        return Err(refuse::too_big("documento", text.len(), limits.max_bytes));
    }
    let mut reader = Reader::from_str(text);
    {
        let cfg = reader.config_mut();
        cfg.check_end_names = true;
        cfg.expand_empty_elements = false;
        cfg.trim_text(false);
    }
    let malformed = |reader: &Reader<&[u8]>, detail: String| {
        problem(
            "PAS10",
            format!(
                "XML mal formado cerca del byte {}: {detail}.",
                reader.buffer_position()
            ),
        )
    };
    let attr_problem = |err: quick_xml::Error| {
        problem(
            "PAS05",
            format!("Referencia de entidad no permitida en un atributo: {err}."),
        )
    };
    let mut nodes: Vec<Node> = Vec::new();
    let mut top: Vec<NodeId> = Vec::new();
    let mut root: Option<NodeId> = None;
    let mut stack: Vec<Frame> = Vec::new();
    // (prefix, URI) in scope, innermost last.
    let mut bindings: Vec<(String, String)> = Vec::new();
    let mut elements = 0usize;
    // Text, comments and PIs count too: a file of a million comments is no
    // cheaper than a million elements.
    let max_nodes = limits.max_elements.saturating_mul(4);

    let resolve = |bindings: &[(String, String)], prefix: &str| -> Option<String> {
        if prefix == "xml" {
            return Some(NS_XML.to_owned());
        }
        match bindings.iter().rev().find(|(p, _)| p == prefix) {
            Some((_, u)) => Some(u.clone()),
            None if prefix.is_empty() => Some(String::new()),
            None => None,
        }
    };

    fn push(nodes: &mut Vec<Node>, top: &mut Vec<NodeId>, stack: &[Frame], kind: Kind) -> NodeId {
        let id = nodes.len();
        let parent = stack.last().map(|f| f.id);
        nodes.push(Node {
            kind,
            parent,
            children: Vec::new(),
        });
        match parent {
            Some(p) => nodes[p].children.push(id),
            None => top.push(id),
        }
        id
    }

    /// Append character data to the open element, merging with a preceding
    /// text node.
    fn push_text(nodes: &mut Vec<Node>, stack: &[Frame], s: &str) -> bool {
        let Some(f) = stack.last() else {
            return false;
        };
        if let Some(&last) = nodes[f.id].children.last()
            && let Kind::Text(t) = &mut nodes[last].kind
        {
            t.push_str(s);
            return true;
        }
        let id = nodes.len();
        nodes.push(Node {
            kind: Kind::Text(s.to_owned()),
            parent: Some(f.id),
            children: Vec::new(),
        });
        nodes[f.id].children.push(id);
        true
    }

    loop {
        if nodes.len() > max_nodes {
            return Err(problem(
                "PAS07",
                format!("El documento tiene más de {max_nodes} nodos; se rechaza por seguridad."),
            ));
        }
        let event = reader
            .read_event()
            .map_err(|e| malformed(&reader, e.to_string()))?;
        match event {
            Event::DocType(_) => {
                return Err(refuse::doctype());
            }
            Event::Start(ref e) | Event::Empty(ref e) => {
                let is_empty = matches!(event, Event::Empty(_));
                if stack.is_empty() && root.is_some() {
                    return Err(malformed(&reader, "hay más de un elemento raíz".to_owned()));
                }
                if stack.len() >= limits.max_depth {
                    return Err(refuse::too_deep(limits.max_depth));
                }
                elements += 1;
                if elements > limits.max_elements {
                    return Err(refuse::too_many_elements(limits.max_elements));
                }
                let mut decls = Vec::new();
                let mut raw_attrs: Vec<(String, String, String)> = Vec::new();
                for (n, attr) in e.attributes().enumerate() {
                    if n >= MAX_ATTRIBUTES {
                        return Err(refuse::too_many_attributes());
                    }
                    let attr = attr.map_err(|err| malformed(&reader, err.to_string()))?;
                    let value = attr
                        .normalized_value(XmlVersion::Implicit1_0)
                        .map_err(attr_problem)?
                        .into_owned();
                    let key = attr.key;
                    if let Some(decl) = key.as_namespace_binding() {
                        let prefix = match decl {
                            PrefixDeclaration::Default => String::new(),
                            PrefixDeclaration::Named(p) => p.to_owned(),
                        };
                        decls.push((prefix, value));
                        continue;
                    }
                    let prefix = key.prefix().map(|p| p.into_inner()).unwrap_or("");
                    let local: &str = key.local_name().into_inner();
                    raw_attrs.push((prefix.to_owned(), local.to_owned(), value));
                }
                if bindings.len() + decls.len() > MAX_BINDINGS {
                    return Err(problem(
                        "PAS10",
                        format!(
                            "XML mal formado: más de {MAX_BINDINGS} declaraciones de espacios de nombres a la vez."
                        ),
                    ));
                }
                let pushed = decls.len();
                bindings.extend(decls.iter().cloned());
                let undeclared = |p: &str| {
                    problem(
                        "PAS10",
                        format!(
                            "XML mal formado: el prefijo de espacio de nombres \"{p}\" no está declarado."
                        ),
                    )
                };
                let mut attrs = Vec::with_capacity(raw_attrs.len());
                for (prefix, local, value) in raw_attrs {
                    let ns = if prefix.is_empty() {
                        String::new()
                    } else {
                        resolve(&bindings, &prefix).ok_or_else(|| undeclared(&prefix))?
                    };
                    if attrs
                        .iter()
                        .any(|a: &Attr| a.ns == ns && a.local == local && !ns.is_empty())
                    {
                        return Err(malformed(
                            &reader,
                            format!("atributo {{{ns}}}{local} repetido"),
                        ));
                    }
                    attrs.push(Attr {
                        prefix,
                        local,
                        ns,
                        value,
                    });
                }
                let qname = e.name();
                let prefix = qname.prefix().map(|p| p.into_inner()).unwrap_or("");
                let ns = resolve(&bindings, prefix).ok_or_else(|| undeclared(prefix))?;
                let local: &str = qname.local_name().into_inner();
                let el = Element {
                    prefix: prefix.to_owned(),
                    local: local.to_owned(),
                    ns,
                    decls,
                    attrs,
                };
                let id = push(&mut nodes, &mut top, &stack, Kind::Element(el));
                if stack.is_empty() {
                    root = Some(id);
                }
                if is_empty {
                    bindings.truncate(bindings.len() - pushed);
                } else {
                    stack.push(Frame {
                        id,
                        bindings: pushed,
                    });
                }
            }
            Event::End(_) => {
                if let Some(f) = stack.pop() {
                    bindings.truncate(bindings.len() - f.bindings);
                }
            }
            Event::Text(t) => {
                let content = t.xml10_content();
                if !push_text(&mut nodes, &stack, &content) && !content.trim().is_empty() {
                    return Err(malformed(
                        &reader,
                        "texto fuera del elemento raíz".to_owned(),
                    ));
                }
            }
            Event::CData(c) => {
                let content = c.xml10_content();
                if !push_text(&mut nodes, &stack, &content) {
                    return Err(malformed(
                        &reader,
                        "CDATA fuera del elemento raíz".to_owned(),
                    ));
                }
            }
            Event::GeneralRef(r) => {
                let resolved = resolve_ref(&r)?;
                if !push_text(&mut nodes, &stack, &resolved) {
                    return Err(malformed(
                        &reader,
                        "referencia fuera del elemento raíz".to_owned(),
                    ));
                }
            }
            Event::Comment(c) => {
                let content = c.xml10_content().into_owned();
                push(&mut nodes, &mut top, &stack, Kind::Comment(content));
            }
            Event::PI(p) => {
                let target = p.target().to_owned();
                let data = p.content().trim_start().to_owned();
                push(&mut nodes, &mut top, &stack, Kind::Pi { target, data });
            }
            Event::Decl(_) => {}
            Event::Eof => break,
        }
    }
    if let Some(f) = stack.last() {
        let open = match &nodes[f.id].kind {
            Kind::Element(e) => e.local.clone(),
            _ => String::new(),
        };
        return Err(problem(
            "PAS10",
            format!("XML mal formado: el archivo está truncado (falta cerrar <{open}>)."),
        ));
    }
    let Some(root) = root else {
        return Err(problem("PAS10", "XML mal formado: no hay elemento raíz."));
    };
    Ok(Dom { nodes, top, root })
}
