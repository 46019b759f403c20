//! XML canonicalisation over a [`Dom`]: Canonical XML 1.0 (inclusive, W3C
//! REC 2001-03-15) and Exclusive XML Canonicalization 1.0, each with and
//! without comments.
//!
//! The node sets XML-DSig needs here are always "a subtree (or the whole
//! document) minus at most one excluded subtree" (the enveloped signature),
//! so the renderer walks the tree instead of evaluating XPath: no node is
//! ever dropped from the middle of a kept element, which keeps the namespace
//! rules simple (an element's output parent is its tree parent).
//!
//! What the spec asks and this does: no XML declaration or DOCTYPE; empty
//! elements as start/end pairs; namespace declarations sorted by prefix
//! (default first) before attributes sorted by (namespace URI, local name);
//! a declaration only where it changes what the output parent had in scope
//! (inclusive) or where the element or an attribute visibly uses the prefix
//! (exclusive, plus the `InclusiveNamespaces` prefix list); the apex of an
//! inclusive subtree gets its ancestors' `xml:*` attributes; text escapes
//! `& < > CR`, attribute values `& < " TAB LF CR`; line ends and attribute
//! whitespace were normalised by the parser; comments and processing
//! instructions outside the root element on their own lines.

use std::rc::Rc;

use super::dom::{Dom, Kind, NS_XML, NodeId};

/// Namespace bindings (prefix → URI; "" is the default namespace).
type Scope = Rc<Vec<(String, String)>>;

pub const C14N: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315";
pub const C14N_COMMENTS: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments";
pub const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
pub const EXC_C14N_COMMENTS: &str = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments";

/// A canonicalisation algorithm with its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    Inclusive {
        comments: bool,
    },
    Exclusive {
        comments: bool,
        /// `InclusiveNamespaces PrefixList` ("" for `#default`).
        inclusive_prefixes: Vec<String>,
    },
}

impl Method {
    /// The algorithm named by `uri`, or `None` when it is not a supported one.
    pub fn from_uri(uri: &str) -> Option<Method> {
        Some(match uri {
            C14N => Method::Inclusive { comments: false },
            C14N_COMMENTS => Method::Inclusive { comments: true },
            EXC_C14N => Method::Exclusive {
                comments: false,
                inclusive_prefixes: Vec::new(),
            },
            EXC_C14N_COMMENTS => Method::Exclusive {
                comments: true,
                inclusive_prefixes: Vec::new(),
            },
            _ => return None,
        })
    }

    fn comments(&self) -> bool {
        match self {
            Method::Inclusive { comments } | Method::Exclusive { comments, .. } => *comments,
        }
    }

    /// The same algorithm without comments (a same-document reference's
    /// node set never holds comments, XML-DSig §4.3.3.3).
    pub fn without_comments(&self) -> Method {
        match self {
            Method::Inclusive { .. } => Method::Inclusive { comments: false },
            Method::Exclusive {
                inclusive_prefixes, ..
            } => Method::Exclusive {
                comments: false,
                inclusive_prefixes: inclusive_prefixes.clone(),
            },
        }
    }
}

/// What to canonicalise.
#[derive(Debug, Clone, Copy)]
pub enum Apex {
    /// The whole document (prolog and epilog comments/PIs included).
    Document,
    /// The subtree rooted at this element.
    Element(NodeId),
}

/// Canonical form of `apex`, leaving out the subtree `exclude` (if any).
pub fn canonicalize(dom: &Dom, apex: Apex, exclude: Option<NodeId>, method: &Method) -> Vec<u8> {
    let mut c = Canon {
        dom,
        exclude,
        method,
        out: String::new(),
        parent_scope: Rc::new(Vec::new()),
    };
    match apex {
        Apex::Document => {
            let mut after_root = false;
            for &n in &dom.top {
                if n == dom.root {
                    c.element(n, &Rc::new(Vec::new()), true);
                    after_root = true;
                    continue;
                }
                let mut piece = String::new();
                match &dom.nodes[n].kind {
                    Kind::Comment(t) if method.comments() => comment(&mut piece, t),
                    Kind::Pi { target, data } => pi(&mut piece, target, data),
                    _ => continue,
                }
                if after_root {
                    c.out.push('\n');
                    c.out.push_str(&piece);
                } else {
                    c.out.push_str(&piece);
                    c.out.push('\n');
                }
            }
        }
        Apex::Element(id) => c.element(id, &Rc::new(Vec::new()), true),
    }
    c.out.into_bytes()
}

struct Canon<'a> {
    dom: &'a Dom,
    exclude: Option<NodeId>,
    method: &'a Method,
    out: String,
    /// Bindings in scope at the element being rendered's parent.
    /// Shared (`Rc`) because most elements declare nothing: they reuse
    /// their parent's bindings instead of copying them.
    parent_scope: Scope,
}

fn lookup<'s>(scope: &'s [(String, String)], prefix: &str) -> Option<&'s str> {
    scope
        .iter()
        .rev()
        .find(|(p, _)| p == prefix)
        .map(|(_, u)| u.as_str())
}

fn set(scope: &mut Vec<(String, String)>, prefix: &str, uri: &str) {
    match scope.iter_mut().find(|(p, _)| p == prefix) {
        Some(slot) => slot.1 = uri.to_owned(),
        None => scope.push((prefix.to_owned(), uri.to_owned())),
    }
}

impl Canon<'_> {
    /// Render element `id`. `rendered` holds the namespace bindings the
    /// output parent made visible (prefix → URI).
    fn element(&mut self, id: NodeId, rendered: &Scope, apex: bool) {
        if Some(id) == self.exclude {
            return;
        }
        let Some(el) = self.dom.element(id) else {
            return;
        };
        // Bindings in scope here.
        let scope: Scope = if apex {
            Rc::new(self.dom.in_scope(id))
        } else if el.decls.is_empty() {
            Rc::clone(&self.parent_scope)
        } else {
            let mut s = self.parent_scope.as_ref().clone();
            for (p, u) in &el.decls {
                set(&mut s, p, u);
            }
            Rc::new(s)
        };
        // Declarations to output: those that change what the output parent
        // made visible (`rendered`).
        let mut out_ns: Vec<(String, String)> = Vec::new();
        let consider = |prefix: &str, out_ns: &mut Vec<(String, String)>| {
            let uri = lookup(&scope, prefix).unwrap_or("");
            let before = lookup(rendered, prefix).unwrap_or("");
            if prefix == "xml" || out_ns.iter().any(|(p, _)| p == prefix) {
                return;
            }
            if uri != before {
                out_ns.push((prefix.to_owned(), uri.to_owned()));
            }
        };
        match self.method {
            Method::Inclusive { .. } => {
                for (p, _) in scope.iter() {
                    consider(p, &mut out_ns);
                }
            }
            Method::Exclusive {
                inclusive_prefixes, ..
            } => {
                consider(&el.prefix, &mut out_ns);
                for a in &el.attrs {
                    if !a.prefix.is_empty() {
                        consider(&a.prefix, &mut out_ns);
                    }
                }
                for p in inclusive_prefixes {
                    if lookup(&scope, p).is_some() {
                        consider(p, &mut out_ns);
                    }
                }
            }
        }
        // xmlns="" is only meaningful when it undoes a rendered default.
        out_ns.retain(|(p, u)| {
            !(p.is_empty() && u.is_empty() && lookup(rendered, "").unwrap_or("").is_empty())
        });
        out_ns.sort_by(|a, b| a.0.cmp(&b.0));

        let mut attrs: Vec<(&str, &str, String, &str)> = el
            .attrs
            .iter()
            .map(|a| {
                let q = if a.prefix.is_empty() {
                    a.local.clone()
                } else {
                    format!("{}:{}", a.prefix, a.local)
                };
                (a.ns.as_str(), a.local.as_str(), q, a.value.as_str())
            })
            .collect();
        if apex && matches!(self.method, Method::Inclusive { .. }) {
            // Inherit xml:* attributes from the ancestors (nearest wins).
            let mut cur = self.dom.nodes[id].parent;
            while let Some(p) = cur {
                if let Some(pe) = self.dom.element(p) {
                    for a in pe.attrs.iter().filter(|a| a.ns == NS_XML) {
                        if !attrs
                            .iter()
                            .any(|(ns, l, _, _)| *ns == NS_XML && *l == a.local)
                        {
                            attrs.push((
                                NS_XML,
                                a.local.as_str(),
                                format!("xml:{}", a.local),
                                a.value.as_str(),
                            ));
                        }
                    }
                }
                cur = self.dom.nodes[p].parent;
            }
        }
        attrs.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));

        let qname = if el.prefix.is_empty() {
            el.local.clone()
        } else {
            format!("{}:{}", el.prefix, el.local)
        };
        self.out.push('<');
        self.out.push_str(&qname);
        for (p, u) in &out_ns {
            if p.is_empty() {
                self.out.push_str(" xmlns=\"");
            } else {
                self.out.push_str(" xmlns:");
                self.out.push_str(p);
                self.out.push_str("=\"");
            }
            escape_attr(&mut self.out, u);
            self.out.push('"');
        }
        for (_, _, q, v) in &attrs {
            self.out.push(' ');
            self.out.push_str(q);
            self.out.push_str("=\"");
            escape_attr(&mut self.out, v);
            self.out.push('"');
        }
        self.out.push('>');

        let next_rendered = match self.method {
            Method::Inclusive { .. } => Rc::clone(&scope),
            Method::Exclusive { .. } if out_ns.is_empty() => Rc::clone(rendered),
            Method::Exclusive { .. } => {
                let mut r = rendered.as_ref().clone();
                for (p, u) in &out_ns {
                    set(&mut r, p, u);
                }
                Rc::new(r)
            }
        };
        let saved = std::mem::replace(&mut self.parent_scope, scope);
        for &child in &self.dom.nodes[id].children {
            match &self.dom.nodes[child].kind {
                Kind::Element(_) => self.element(child, &next_rendered, false),
                Kind::Text(t) => escape_text(&mut self.out, t),
                Kind::Comment(t) if self.method.comments() => comment(&mut self.out, t),
                Kind::Comment(_) => {}
                Kind::Pi { target, data } => pi(&mut self.out, target, data),
            }
        }
        self.parent_scope = saved;
        self.out.push_str("</");
        self.out.push_str(&qname);
        self.out.push('>');
    }
}

fn comment(out: &mut String, t: &str) {
    out.push_str("<!--");
    out.push_str(t);
    out.push_str("-->");
}

fn pi(out: &mut String, target: &str, data: &str) {
    out.push_str("<?");
    out.push_str(target);
    if !data.is_empty() {
        out.push(' ');
        out.push_str(data);
    }
    out.push_str("?>");
}

fn escape_text(out: &mut String, t: &str) {
    for ch in t.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

fn escape_attr(out: &mut String, t: &str) {
    for ch in t.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}
