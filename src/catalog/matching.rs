//! Matching invoice lines to catalog products (pure, given a lookup).
//!
//! Order: a code the line carries (StandardItemIdentification,
//! SellersItemIdentification, the spreadsheet's CODIGO SUBYACENTE) found in
//! the catalog; else the client's alias (homologación) for the normalised
//! description; else description ranking over product + variety. Every match
//! has a score in 0..1; below `matching.threshold` the line goes to review
//! with the best candidates.
//!
//! Ranking: IDF-weighted Dice overlap of normalised tokens; a query token that
//! is not in the vocabulary counts by its best trigram-similar token
//! ("mozarella" ~ "mozzarella", ≥ 0.7). Spanish puts the head noun first
//! ("AREPA con queso", "QUESO mozzarella"), so a candidate whose product
//! head differs from the query's first token is scaled by 0.85.

use std::collections::HashMap;
use std::io;

use serde::Serialize;

use super::config::{Aliases, Measure};
use super::model::Product;
use super::normalize::{Normalizer, trigram_similarity, trigrams};
use super::units::catalog_measure;

/// Anything that finds products by code.
pub trait Lookup: Send + Sync {
    fn get(&self, code: &str) -> io::Result<Option<Product>>;
}

impl Lookup for super::store::CatalogFile {
    fn get(&self, code: &str) -> io::Result<Option<Product>> {
        super::store::CatalogFile::get(self, code)
    }
}

/// A small in-memory catalog (tests, tools).
#[derive(Debug, Default, Clone)]
pub struct MemCatalog(pub HashMap<String, Product>);

impl Lookup for MemCatalog {
    fn get(&self, code: &str) -> io::Result<Option<Product>> {
        Ok(self.0.get(code.trim()).cloned())
    }
}

#[derive(Debug, Clone)]
struct Doc {
    tokens: Vec<u32>,
    head: Option<u32>,
    weight: f64,
    /// (code, catalog unit measure, description); a few per distinct text.
    codes: Vec<(String, Measure, String)>,
}

/// Token index over distinct normalised `product variety` texts.
#[derive(Debug, Default, Clone)]
pub struct DescriptionIndex {
    normalizer: Normalizer,
    vocab: Vec<String>,
    vocab_ids: HashMap<String, u32>,
    vocab_tri: Vec<Vec<[u8; 3]>>,
    tri_index: HashMap<[u8; 3], Vec<u32>>,
    idf: Vec<f64>,
    postings: Vec<Vec<u32>>,
    docs: Vec<Doc>,
    by_text: HashMap<String, u32>,
    /// Raw text → document, while building.
    by_raw: HashMap<String, u32>,
}

const NO_DOC: u32 = u32::MAX;

/// Codes kept per distinct text (they differ in unit or packaging).
const CODES_PER_TEXT: usize = 12;

/// One ranked candidate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    pub code: String,
    pub description: String,
    pub score: f64,
}

impl DescriptionIndex {
    pub fn build(
        normalizer: Normalizer,
        products: impl IntoIterator<Item = Product>,
    ) -> DescriptionIndex {
        let mut ix = DescriptionIndex {
            normalizer,
            ..Default::default()
        };
        for p in products {
            ix.add(&p);
        }
        ix.finish();
        ix
    }

    /// Build from a stored catalog in one sequential scan. Records whose
    /// product + variety text was already seen cost a hash lookup; a full
    /// decode happens only for the few codes kept per text.
    pub fn build_from_file(
        normalizer: Normalizer,
        file: &super::store::CatalogFile,
    ) -> io::Result<DescriptionIndex> {
        let mut ix = DescriptionIndex {
            normalizer,
            ..Default::default()
        };
        let mut scan = file.scan()?;
        let mut text = String::new();
        while scan.advance()? {
            let mut fields = scan.payload.split(|b| *b == super::model::SEP);
            let (Some(product), Some(variety)) = (fields.next(), fields.next()) else {
                continue;
            };
            let (Ok(product), Ok(variety)) =
                (std::str::from_utf8(product), std::str::from_utf8(variety))
            else {
                continue;
            };
            text.clear();
            text.push_str(product);
            text.push(' ');
            text.push_str(variety);
            let d = match ix.by_raw.get(text.as_str()) {
                Some(&d) => d,
                None => {
                    let d = ix.doc_for(&text, product);
                    ix.by_raw.insert(text.clone(), d);
                    d
                }
            };
            if d == NO_DOC || ix.docs[d as usize].codes.len() >= CODES_PER_TEXT {
                continue;
            }
            if let Some(p) = Product::decode(&scan.key, &scan.payload) {
                ix.docs[d as usize].codes.push((
                    p.code.clone(),
                    catalog_measure(&p.unit),
                    p.description(),
                ));
            }
        }
        ix.finish();
        Ok(ix)
    }

    fn token_id(&mut self, t: &str) -> u32 {
        if let Some(id) = self.vocab_ids.get(t) {
            return *id;
        }
        let id = self.vocab.len() as u32;
        self.vocab.push(t.to_string());
        self.vocab_ids.insert(t.to_string(), id);
        self.postings.push(Vec::new());
        id
    }

    fn add(&mut self, p: &Product) {
        // Many codes share a product + variety (unit and packaging variants):
        // normalise each raw text once.
        let text = format!("{} {}", p.product, p.variety);
        let d = match self.by_raw.get(&text) {
            Some(&d) => d,
            None => {
                let d = self.doc_for(&text, &p.product);
                self.by_raw.insert(text, d);
                d
            }
        };
        if d == NO_DOC {
            return;
        }
        let doc = &mut self.docs[d as usize];
        if doc.codes.len() < CODES_PER_TEXT {
            doc.codes
                .push((p.code.clone(), catalog_measure(&p.unit), p.description()));
        }
    }

    /// The document for a raw text (created if new); `NO_DOC` when nothing
    /// is left after normalisation.
    fn doc_for(&mut self, text: &str, product: &str) -> u32 {
        let toks = self.normalizer.tokens(text);
        if toks.is_empty() {
            return NO_DOC;
        }
        let key = toks.join(" ");
        if let Some(&d) = self.by_text.get(&key) {
            return d;
        }
        let head = self.normalizer.tokens(product).first().cloned();
        let ids: Vec<u32> = toks.iter().map(|t| self.token_id(t)).collect();
        let head = head.map(|h| self.token_id(&h));
        let d = self.docs.len() as u32;
        for &t in &ids {
            self.postings[t as usize].push(d);
        }
        self.docs.push(Doc {
            tokens: ids,
            head,
            weight: 0.0,
            codes: Vec::new(),
        });
        self.by_text.insert(key, d);
        d
    }

    fn finish(&mut self) {
        self.by_raw = HashMap::new();
        let n = self.docs.len().max(1) as f64;
        self.idf = self
            .postings
            .iter()
            .map(|p| (1.0 + n / (p.len().max(1) as f64)).ln())
            .collect();
        for d in &mut self.docs {
            d.weight = d.tokens.iter().map(|t| self.idf[*t as usize]).sum();
        }
        self.vocab_tri = self.vocab.iter().map(|t| trigrams(t)).collect();
        for (i, tri) in self.vocab_tri.iter().enumerate() {
            for g in tri {
                self.tri_index.entry(*g).or_default().push(i as u32);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.docs.len()
    }
    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// Vocabulary tokens similar to `t` (exact first), with similarity.
    fn similar(&self, t: &str) -> Vec<(u32, f64)> {
        if let Some(id) = self.vocab_ids.get(t) {
            return vec![(*id, 1.0)];
        }
        let tri = trigrams(t);
        let mut counts: HashMap<u32, u32> = HashMap::new();
        for g in &tri {
            if let Some(ids) = self.tri_index.get(g) {
                for id in ids {
                    *counts.entry(*id).or_default() += 1;
                }
            }
        }
        let mut out: Vec<(u32, f64)> = counts
            .into_keys()
            .map(|id| (id, trigram_similarity(&tri, &self.vocab_tri[id as usize])))
            .filter(|(_, s)| *s >= 0.7)
            .collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1));
        out.truncate(3);
        out
    }

    /// Rank catalog texts for a description; best first. `unit` prefers codes
    /// registered in the same measure when a text has several.
    pub fn search(&self, description: &str, unit: Option<Measure>, limit: usize) -> Vec<Candidate> {
        let q = self.normalizer.tokens(description);
        if q.is_empty() || self.docs.is_empty() {
            return Vec::new();
        }
        let max_idf = (1.0 + self.docs.len() as f64).ln();
        let mut q_weight = 0.0;
        let mut scores: HashMap<u32, f64> = HashMap::new();
        let mut first_tok: Vec<(u32, f64)> = Vec::new();
        for (i, t) in q.iter().enumerate() {
            let sims = self.similar(t);
            q_weight += sims
                .first()
                .map_or(max_idf, |(id, _)| self.idf[*id as usize]);
            if i == 0 {
                first_tok = sims.clone();
            }
            let mut best: HashMap<u32, f64> = HashMap::new();
            for (id, s) in sims {
                let w = self.idf[id as usize] * s;
                for &d in &self.postings[id as usize] {
                    let e = best.entry(d).or_insert(0.0);
                    if w > *e {
                        *e = w;
                    }
                }
            }
            for (d, w) in best {
                *scores.entry(d).or_insert(0.0) += w;
            }
        }
        let mut ranked: Vec<(u32, f64)> = scores
            .into_iter()
            .map(|(d, m)| {
                let doc = &self.docs[d as usize];
                let mut s = 2.0 * m / (q_weight + doc.weight);
                let head_ok = doc
                    .head
                    .is_some_and(|h| first_tok.iter().any(|(id, sim)| *id == h && *sim >= 0.8));
                if !head_ok {
                    s *= 0.85;
                }
                (d, s.min(1.0))
            })
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked.truncate(limit);
        ranked
            .into_iter()
            .map(|(d, s)| {
                let doc = &self.docs[d as usize];
                // Prefer the line's measure; without one, kilograms (the registration standard).
                let want = unit.unwrap_or(Measure::Kg);
                let pick = doc
                    .codes
                    .iter()
                    .find(|c| c.1 == want)
                    .unwrap_or(&doc.codes[0]);
                Candidate {
                    code: pick.0.clone(),
                    description: pick.2.clone(),
                    score: (s * 1000.0).round() / 1000.0,
                }
            })
            .collect()
    }
}

/// How a line was matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchVia {
    Code,
    Alias,
    Description,
}

/// The product found for a line.
#[derive(Debug, Clone, Serialize)]
pub struct ProductMatch {
    pub product: Product,
    pub via: MatchVia,
    pub score: f64,
    /// Runners-up for a description match (empty otherwise).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alternatives: Vec<Candidate>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum MatchOutcome {
    Matched(ProductMatch),
    /// No confident match: an operator chooses among the candidates.
    Review {
        candidates: Vec<Candidate>,
    },
}

/// What an invoice line says about its product.
#[derive(Debug, Clone, Default)]
pub struct LineQuery<'a> {
    /// Client NIT, for aliases.
    pub client: Option<&'a str>,
    /// Codes carried by the line, most authoritative first
    /// (StandardItemIdentification, SellersItemIdentification, CODIGO SUBYACENTE).
    pub codes: Vec<&'a str>,
    pub description: &'a str,
    /// The line's unit, used to prefer codes in the same measure.
    pub unit: Option<Measure>,
}

/// Code lookup + aliases + description index, with the threshold.
pub struct Matcher<L: Lookup> {
    pub lookup: L,
    pub index: DescriptionIndex,
    pub aliases: Aliases,
    pub normalizer: Normalizer,
    pub threshold: f64,
    pub candidates: usize,
}

impl<L: Lookup> Matcher<L> {
    pub fn match_line(&self, q: &LineQuery<'_>) -> io::Result<MatchOutcome> {
        self.match_line_with(q, &Aliases::default())
    }

    /// [`match_line`](Self::match_line) with a submitter's own aliases (its
    /// spreadsheet's homologation, [`Aliases::from_homologation`]) looked up
    /// before the configured ones: codes carried by the line, then
    /// `submitter`, then `rules/aliases/`, then the description index.
    pub fn match_line_with(
        &self,
        q: &LineQuery<'_>,
        submitter: &Aliases,
    ) -> io::Result<MatchOutcome> {
        for c in &q.codes {
            let c = c.trim();
            if c.is_empty() {
                continue;
            }
            if let Some(p) = self.lookup.get(c)? {
                return Ok(MatchOutcome::Matched(ProductMatch {
                    product: p,
                    via: MatchVia::Code,
                    score: 1.0,
                    alternatives: Vec::new(),
                }));
            }
        }
        let key = self.normalizer.key(q.description);
        for aliases in [submitter, &self.aliases] {
            if let Some(code) = aliases.get(q.client, &key)
                && let Some(p) = self.lookup.get(code)?
            {
                return Ok(MatchOutcome::Matched(ProductMatch {
                    product: p,
                    via: MatchVia::Alias,
                    score: 1.0,
                    alternatives: Vec::new(),
                }));
            }
        }
        let mut ranked = self
            .index
            .search(q.description, q.unit, self.candidates + 1);
        match ranked.first() {
            Some(best) if best.score >= self.threshold => {
                if let Some(p) = self.lookup.get(&best.code)? {
                    let score = best.score;
                    ranked.remove(0);
                    ranked.truncate(self.candidates);
                    return Ok(MatchOutcome::Matched(ProductMatch {
                        product: p,
                        via: MatchVia::Description,
                        score,
                        alternatives: ranked,
                    }));
                }
                ranked.truncate(self.candidates);
                Ok(MatchOutcome::Review { candidates: ranked })
            }
            _ => {
                ranked.truncate(self.candidates);
                Ok(MatchOutcome::Review { candidates: ranked })
            }
        }
    }
}
