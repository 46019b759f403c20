#!/usr/bin/env python3
"""Write a directory of hostile input files for the resilience tests.

Usage: make_hostile.py DIR
Every file is something a careless or malicious submitter could upload: XML
bombs and external entities, a zip-bomb spreadsheet, corrupt and bomb-sized
PDFs and images, a TIFF whose pages loop, empty and binary junk, hostile names.
Sizes stay small on disk (bombs expand only when decoded). Deterministic.
"""
import io
import os
import struct
import sys
import zipfile
import zlib


def png_chunk(kind, data):
    c = struct.pack(">I", len(data)) + kind + data
    return c + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png(width, height, idat):
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit gray
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def png_bomb():
    # 40000 x 40000 gray = 1.6 GB of pixels from a ~1.6 MB stream.
    w = h = 40000
    comp = zlib.compressobj(9)
    row = b"\x00" * (w + 1)
    out = io.BytesIO()
    for _ in range(h):
        out.write(comp.compress(row))
    out.write(comp.flush())
    return png(w, h, out.getvalue())


def tiff_loop():
    # Little-endian TIFF whose only IFD points back to itself as the next page.
    entries = [
        (256, 3, 1, 16),  # ImageWidth
        (257, 3, 1, 16),  # ImageLength
        (258, 3, 1, 8),  # BitsPerSample
        (259, 3, 1, 1),  # Compression none
        (262, 3, 1, 1),  # BlackIsZero
        (273, 4, 1, 8 + 2 + 12 * 9 + 4),  # StripOffsets
        (277, 3, 1, 1),  # SamplesPerPixel
        (278, 3, 1, 16),  # RowsPerStrip
        (279, 4, 1, 256),  # StripByteCounts
    ]
    ifd = struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        if typ == 3:
            ifd += struct.pack("<HHIHH", tag, typ, count, value, 0)
        else:
            ifd += struct.pack("<HHII", tag, typ, count, value)
    ifd += struct.pack("<I", 8)  # next IFD = this one: an endless page list
    return b"II*\x00" + struct.pack("<I", 8) + ifd + b"\x80" * 256


def jpeg_bomb():
    # SOI, a baseline SOF0 declaring 65500 x 65500 x 3, then nothing useful.
    sof = struct.pack(">HBHHB", 17, 8, 65500, 65500, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    return b"\xff\xd8" + b"\xff\xc0" + sof + b"\xff\xd9"


def pdf(objects, trailer_root=1):
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % i + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for off in offsets:
        out.write(b"%010d 00000 n \n" % off)
    out.write(
        b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n"
        % (len(objects) + 1, trailer_root, xref)
    )
    return out.getvalue()


def pdf_page_loop():
    # The page tree's Kids point back at the tree itself.
    return pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
        ]
    )


def pdf_huge_page():
    # One page of 14400 x 14400 pt (200 in): 60000 px square at 300 dpi.
    return pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 14400 14400] >>",
        ]
    )


def xlsx_bomb():
    # A spreadsheet whose one sheet inflates to ~1 GiB of XML rows.
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        workbook_parts(z)
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as f:
            f.write(
                b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
            )
            row = b'<row><c t="inlineStr"><is><t>AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA</t></is></c></row>'
            chunk = row * 10000
            for _ in range((1 << 30) // len(chunk)):
                f.write(chunk)
            f.write(b"</sheetData></worksheet>")
    return out.getvalue()


PLANTED = "/tmp/pasarela-hostile-planted.xml"


def pdf_climbing_attachment():
    # An embedded file whose name climbs out of any extraction folder to
    # PLANTED (poppler < 24.03 `pdfdetach -saveall` writes it there).
    name = ("../" * 24 + PLANTED.lstrip("/")).encode()
    data = b'<?xml version="1.0"?><Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"/>'
    return pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles << /Names [(" + name + b") 4 0 R] >> >> >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
            b"<< /Type /Filespec /F (" + name + b") /UF (" + name + b") /EF << /F 5 0 R >> >>",
            b"<< /Type /EmbeddedFile /Length %d >>\nstream\n" % len(data) + data + b"\nendstream",
        ]
    )


def workbook_parts(z, shared_strings=None):
    # Everything of a minimal workbook but its one sheet: content types,
    # relationships, the workbook (and an optional shared-strings part).
    z.writestr(
        "[Content_Types].xml",
        '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
        "</Types>",
    )
    z.writestr(
        "_rels/.rels",
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
        "</Relationships>",
    )
    z.writestr(
        "xl/workbook.xml",
        '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
        '<sheet name="Hoja1" sheetId="1" r:id="rId1"/></sheets></workbook>',
    )
    rels = '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
    if shared_strings is not None:
        rels += '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>'
        z.writestr("xl/sharedStrings.xml", shared_strings)
    z.writestr(
        "xl/_rels/workbook.xml.rels",
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        + rels
        + "</Relationships>",
    )


def xlsx(sheet_xml, shared_strings=None):
    # A minimal workbook around one sheet.
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        workbook_parts(z, shared_strings)
        z.writestr("xl/worksheets/sheet1.xml", sheet_xml)
    return out.getvalue()


SHEET_HEAD = '<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'


def xlsx_far_cells():
    # Two cells at opposite corners of the largest sheet Excel allows: a
    # dense reader allocates 17 billion cells.
    return xlsx(
        SHEET_HEAD
        + '<row r="1"><c r="A1" t="inlineStr"><is><t>NIT</t></is></c></row>'
        + '<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>'
        + "</sheetData></worksheet>"
    )


def xlsx_announced_strings():
    # A shared-strings table announcing four billion strings.
    sst = (
        '<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'count="4000000000" uniqueCount="4000000000"><si><t>x</t></si></sst>'
    )
    return xlsx(
        SHEET_HEAD + '<row r="1"><c r="A1" t="s"><v>0</v></c></row></sheetData></worksheet>',
        sst,
    )


def xml_mixed_content():
    # ~10 MB: one large text node interleaved with small children that hold
    # character references (a parser that copies the parent's text per piece
    # goes quadratic).
    piece = b"A" * 64 + b"<b>&#65;&#x42;</b>"
    return (
        b'<?xml version="1.0"?>\n<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"><cbc:Note xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">'
        + b"Z" * (2 << 20)
        + piece * ((8 << 20) // len(piece))
        + b"</cbc:Note></Invoice>\n"
    )


def tiff_flood(pages=40, side=4000):
    # Many large pages (deflate-compressed white): a reader that holds every
    # page at once needs pages x side^2 bytes (640 MB here, from ~0.6 MB).
    raw = zlib.compress(b"\xff" * (side * side), 9)
    out = io.BytesIO()
    out.write(b"II*\x00" + struct.pack("<I", 0))
    first_ifd_pos = 4
    prev_next_pos = first_ifd_pos
    for _ in range(pages):
        data_off = out.tell()
        out.write(raw)
        if out.tell() % 2:
            out.write(b"\x00")
        ifd_off = out.tell()
        # patch the previous "next IFD" pointer
        here = out.tell()
        out.seek(prev_next_pos)
        out.write(struct.pack("<I", ifd_off))
        out.seek(here)
        entries = [
            (256, 4, 1, side),  # ImageWidth
            (257, 4, 1, side),  # ImageLength
            (258, 3, 1, 8),  # BitsPerSample
            (259, 3, 1, 8),  # Compression: deflate
            (262, 3, 1, 1),  # BlackIsZero
            (273, 4, 1, data_off),  # StripOffsets
            (277, 3, 1, 1),  # SamplesPerPixel
            (278, 4, 1, side),  # RowsPerStrip
            (279, 4, 1, len(raw)),  # StripByteCounts
        ]
        out.write(struct.pack("<H", len(entries)))
        for tag, typ, count, value in entries:
            if typ == 3:
                out.write(struct.pack("<HHIHH", tag, typ, count, value, 0))
            else:
                out.write(struct.pack("<HHII", tag, typ, count, value))
        prev_next_pos = out.tell()
        out.write(struct.pack("<I", 0))
    return out.getvalue()


FILES = {
    "billion-laughs.xml": b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
        for i in range(1, 10)
    )
    + b']>\n<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2">&lol9;</Invoice>\n',
    "xxe.xml": b'<?xml version="1.0"?>\n<!DOCTYPE Invoice [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
    b'<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"><cbc:ID xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">&xxe;</cbc:ID></Invoice>\n',
    "deep.xml": b'<?xml version="1.0"?>\n<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2">'
    + b"<a>" * 100000
    + b"</a>" * 100000
    + b"</Invoice>\n",
    "truncated.xml": b'<?xml version="1.0"?>\n<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"><cbc:ID>SETP99',
    "utf16-lies.xml": b'\xff\xfe<\x00?\x00x\x00m\x00l\x00 \x00v\x00e\x00r\x00' + b"\xd8\x00" * 64,
    "not-ubl.xml": b'<?xml version="1.0"?><html><body>hola</body></html>',
    "empty.xml": b"",
    "zip-bomb.xlsx": None,  # built below
    "truncated.xlsx": b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + b"\x00" * 40,
    "garbage.xls": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\xff" * 4096,
    "truncated.pdf": b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /Ty",
    "page-loop.pdf": None,
    "huge-page.pdf": None,
    "corrupt.png": b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dIHDR" + b"\xff" * 64,
    "bomb.png": None,
    "bomb.jpg": None,
    "loop.tiff": None,
    "random.bin": bytes((i * 7919 + 13) % 251 for i in range(65536)),
    "factura\nFAKE-LOG-LINE level=ERROR.xml": b"<x/>",
    "ctl\x01\x1b[31mred.pdf": b"%PDF-1.4\n%%EOF\n",
    "a..b.xml": b"<?xml version='1.0'?><a/>",
    "climbing-attachment.pdf": None,
    "far-cells.xlsx": None,
    "announced-strings.xlsx": None,
    "junk-prefixed-zip-bomb.xlsx": None,
    "mixed-content.xml": None,
    "page-flood.tiff": None,
}


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    bomb = xlsx_bomb()
    built = {
        "zip-bomb.xlsx": lambda: bomb,
        "junk-prefixed-zip-bomb.xlsx": lambda: b"JUNK" * 4 + bomb,
        "climbing-attachment.pdf": pdf_climbing_attachment,
        "far-cells.xlsx": xlsx_far_cells,
        "announced-strings.xlsx": xlsx_announced_strings,
        "mixed-content.xml": xml_mixed_content,
        "page-flood.tiff": tiff_flood,
        "page-loop.pdf": pdf_page_loop,
        "huge-page.pdf": pdf_huge_page,
        "bomb.png": png_bomb,
        "bomb.jpg": jpeg_bomb,
        "loop.tiff": tiff_loop,
    }
    for name, data in FILES.items():
        if data is None:
            data = built[name]()
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    # 1 GiB of zeros, sparse on disk.
    with open(os.path.join(out, "zeros-1GiB.bin"), "wb") as f:
        f.truncate(1 << 30)


if __name__ == "__main__":
    main()
