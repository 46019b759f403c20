//! Page images of a submitted PDF or scan for the review page: rendered in
//! the sandboxed worker (pdftoppm for PDFs, this binary's `decode image
//! --preview` for images), never in the daemon, and kept in a small cache.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use crate::formats::worker::WorkerError;
use crate::result::Format;

/// Most pages kept.
const CACHED: usize = 48;
/// Most pages shown for one document.
pub const MAX_PAGES: usize = 20;

/// A page: the document's SHA-256 and the page number.
type PageKey = (String, usize);

/// Rendered pages by key, and the keys oldest first (evicted first).
#[derive(Default)]
struct Pages {
    by_key: HashMap<PageKey, Arc<Vec<u8>>>,
    order: VecDeque<PageKey>,
}

#[derive(Default)]
pub struct Cache {
    pages: Mutex<Pages>,
}

impl Cache {
    fn get(&self, key: &(String, usize)) -> Option<Arc<Vec<u8>>> {
        let g = self.pages.lock().unwrap_or_else(|e| e.into_inner());
        g.by_key.get(key).cloned()
    }

    fn put(&self, key: (String, usize), png: Arc<Vec<u8>>) {
        let mut g = self.pages.lock().unwrap_or_else(|e| e.into_inner());
        if g.by_key.insert(key.clone(), png).is_none() {
            g.order.push_back(key);
        }
        while g.order.len() > CACHED {
            if let Some(old) = g.order.pop_front() {
                g.by_key.remove(&old);
            }
        }
    }
}

/// Does this format have pages to look at?
pub fn has_pages(format: Format) -> bool {
    matches!(format, Format::Pdf | Format::Image)
}

/// Page `page` (1-based) of a document with SHA-256 `sha`, as PNG; `None`
/// when it has no such page.
pub async fn page(
    cache: &Cache,
    sha: &str,
    bytes: impl FnOnce() -> std::io::Result<Vec<u8>>,
    format: Format,
    page: usize,
) -> Result<Option<Arc<Vec<u8>>>, WorkerError> {
    if page == 0 || page > MAX_PAGES || !has_pages(format) {
        return Ok(None);
    }
    let key = (sha.to_owned(), page);
    if let Some(p) = cache.get(&key) {
        return Ok(Some(p));
    }
    let bytes = bytes().map_err(|e| WorkerError::Io {
        program: "desk".into(),
        reason: e.to_string(),
    })?;
    let limits = crate::formats::read::FormatsSettings::default();
    let png = match format {
        Format::Pdf => crate::formats::pdf::preview_page(&bytes, page, limits.pdf_limits).await?,
        _ => crate::formats::decode::image_preview(&bytes, page - 1, limits.decode_limits).await?,
    };
    Ok(png.map(|p| {
        let p = Arc::new(p);
        cache.put(key, p.clone());
        p
    }))
}
