//! A minimal PDF writer for generated invoices: the text layer, rules,
//! QR codes and scanned pages.

use super::*;

/// A one-page PDF holding only a JPEG (what a scanner produces).
pub fn scanned_pdf(jpeg: &[u8], width: u32, height: u32) -> Vec<u8> {
    let content = b"q 595 0 0 842 0 0 cm /Im1 Do Q\n".to_vec();
    let mut w = PdfWriter::default();
    w.finish(
        content,
        "<< /XObject << /Im1 7 0 R >> >>",
        Some((jpeg, width, height)),
        None,
    )
}

#[derive(Default)]
pub(super) struct PdfWriter {
    out: Vec<u8>,
    offsets: Vec<usize>,
}

impl PdfWriter {
    pub(super) fn obj(&mut self, n: usize, body: &[u8]) {
        while self.offsets.len() < n {
            self.offsets.push(0);
        }
        self.offsets[n - 1] = self.out.len();
        self.out
            .extend_from_slice(format!("{n} 0 obj\n").as_bytes());
        self.out.extend_from_slice(body);
        self.out.extend_from_slice(b"\nendobj\n");
    }
    pub(super) fn stream(dict: &str, data: &[u8]) -> Vec<u8> {
        let mut v = format!("<< {dict} /Length {} >>\nstream\n", data.len()).into_bytes();
        v.extend_from_slice(data);
        v.extend_from_slice(b"\nendstream");
        v
    }
    /// Objects: 1 catalog, 2 pages, 3 page, 4 contents, 5 filespec, 6 embedded file, 7 image.
    pub(super) fn finish(
        &mut self,
        content: Vec<u8>,
        resources: &str,
        image: Option<(&[u8], u32, u32)>,
        xml: Option<&str>,
    ) -> Vec<u8> {
        self.out.extend_from_slice(b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n");
        let names = if xml.is_some() {
            " /Names << /EmbeddedFiles << /Names [(factura.xml) 5 0 R] >> >> /AF [5 0 R]"
        } else {
            ""
        };
        self.obj(
            1,
            format!("<< /Type /Catalog /Pages 2 0 R{names} >>").as_bytes(),
        );
        self.obj(2, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>");
        self.obj(3, format!("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources {resources} /Contents 4 0 R >>").as_bytes());
        self.obj(4, &Self::stream("", &content));
        if let Some(x) = xml {
            self.obj(5, b"<< /Type /Filespec /F (factura.xml) /UF (factura.xml) /AFRelationship /Data /EF << /F 6 0 R >> >>");
            self.obj(
                6,
                &Self::stream("/Type /EmbeddedFile /Subtype /text#2Fxml", x.as_bytes()),
            );
        } else {
            self.obj(5, b"null");
            self.obj(6, b"null");
        }
        if let Some((jpeg, w, h)) = image {
            self.obj(7, &Self::stream(&format!("/Type /XObject /Subtype /Image /Width {w} /Height {h} /ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /DCTDecode"), jpeg));
        } else {
            self.obj(7, b"null");
        }
        let xref = self.out.len();
        let n = self.offsets.len();
        let mut tail = format!("xref\n0 {}\n0000000000 65535 f \n", n + 1);
        for o in &self.offsets {
            let _ = writeln!(tail, "{o:010} 00000 n ");
        }
        let _ = write!(
            tail,
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            n + 1
        );
        self.out.extend_from_slice(tail.as_bytes());
        std::mem::take(&mut self.out)
    }
}

/// WinAnsi bytes for a PDF string literal (Latin-1 covers Spanish).
pub(super) fn pdf_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '(' | ')' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 128 => out.push(c),
            c if (c as u32) < 256 => {
                let _ = write!(out, "\\{:03o}", c as u32);
            }
            _ => out.push('?'),
        }
    }
    out
}

/// Approximate Helvetica advance width (for right alignment).
pub(super) fn text_width(s: &str, size: f32) -> f32 {
    let units: u32 = s
        .chars()
        .map(|c| match c {
            '0'..='9' | '$' => 556,
            '.' | ',' | ' ' | ':' => 278,
            '%' => 889,
            c if c.is_uppercase() => 667,
            _ => 500,
        })
        .sum();
    units as f32 * size / 1000.0
}

/// The page's text in reading order: ops on the same baseline, left to right.
pub(super) fn reading_text(ops: &[Op]) -> String {
    let mut items: Vec<(i32, f32, String)> = ops
        .iter()
        .filter_map(|o| match o {
            Op::Text { x, y, text, .. } => Some((-(y.round() as i32), *x, text.clone())),
            _ => None,
        })
        .collect();
    items.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let mut out = String::new();
    let mut last = None;
    for (y, _, t) in items {
        if last.is_some() && last != Some(y) {
            out.push('\n');
        } else if last.is_some() {
            out.push(' ');
        }
        out.push_str(&t);
        last = Some(y);
    }
    out
}

/// Render page 1 of a PDF to grayscale at `dpi` with `pdftoppm`.
pub async fn rasterise(pdf: &[u8], dpi: u32) -> Result<GrayImage, WorkerError> {
    let scratch = Scratch::new().map_err(|e| WorkerError::Io {
        program: "pdftoppm".into(),
        reason: e.to_string(),
    })?;
    scratch.write("in.pdf", pdf).map_err(|e| WorkerError::Io {
        program: "pdftoppm".into(),
        reason: e.to_string(),
    })?;
    // Our own generated PDF: its page is decoded here, not in the worker.
    let name = crate::formats::pdf::render_page(&scratch, 1, dpi, Limits::default()).await?;
    let bytes = std::fs::read(scratch.path().join(name)).map_err(|e| WorkerError::Io {
        program: "pdftoppm".into(),
        reason: e.to_string(),
    })?;
    crate::formats::image::decode_page(&bytes, 0)
        .map(|(page, _)| page)
        .map_err(|e| WorkerError::Io {
            program: "pdftoppm".into(),
            reason: e.to_string(),
        })
}
