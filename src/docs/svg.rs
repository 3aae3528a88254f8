//! Diagrams drawn as SVG by hand: a deterministic grid layout, no browser, no
//! Graphviz. Lines are drawn before boxes, so a box (opaque) never hides behind the
//! line of another table's key, and every label stays readable.

use super::catalog::{Access, Component, Schema, Table};
use std::collections::BTreeMap;
use std::fmt::Write;

const CHAR_W: f64 = 7.2;
const LINE_H: f64 = 16.0;
const GAP_X: f64 = 60.0;
const GAP_Y: f64 = 50.0;
const MARGIN: f64 = 20.0;

/// `&`, `<`, `>`, `"` as XML entities.
pub(super) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A box of text lines: the first is the title.
struct Boxed {
    lines: Vec<String>,
    external: bool,
    x: f64,
    y: f64,
}

impl Boxed {
    fn width(&self) -> f64 {
        let chars = self
            .lines
            .iter()
            .map(|l| l.chars().count())
            .max()
            .unwrap_or(0);
        chars as f64 * CHAR_W + 16.0
    }
    fn height(&self) -> f64 {
        self.lines.len() as f64 * LINE_H + 10.0
    }
    fn center(&self) -> (f64, f64) {
        (self.x + self.width() / 2.0, self.y + self.height() / 2.0)
    }
    /// Where the line from the centre towards `(tx, ty)` leaves the box.
    fn border_towards(&self, tx: f64, ty: f64) -> (f64, f64) {
        let (cx, cy) = self.center();
        let (dx, dy) = (tx - cx, ty - cy);
        let (hw, hh) = (self.width() / 2.0, self.height() / 2.0);
        let scale = [
            if dx != 0.0 { hw / dx.abs() } else { f64::MAX },
            if dy != 0.0 { hh / dy.abs() } else { f64::MAX },
        ]
        .into_iter()
        .fold(f64::MAX, f64::min)
        .min(1.0);
        (cx + dx * scale, cy + dy * scale)
    }
}

/// Places boxes on a grid of about the square root of their number of columns, each
/// column as wide as its widest box, each row as tall as its tallest. Returns the
/// drawing's size.
fn grid(boxes: &mut [Boxed]) -> (f64, f64) {
    let n = boxes.len().max(1);
    let cols = (n as f64).sqrt().ceil() as usize;
    let mut widths = vec![0.0f64; cols];
    let mut heights = vec![0.0f64; n.div_ceil(cols)];
    for (i, b) in boxes.iter().enumerate() {
        widths[i % cols] = widths[i % cols].max(b.width());
        heights[i / cols] = heights[i / cols].max(b.height());
    }
    for (i, b) in boxes.iter_mut().enumerate() {
        b.x = MARGIN + widths[..i % cols].iter().map(|w| w + GAP_X).sum::<f64>();
        b.y = MARGIN + 30.0 + heights[..i / cols].iter().map(|h| h + GAP_Y).sum::<f64>();
    }
    let w = MARGIN * 2.0 + widths.iter().sum::<f64>() + GAP_X * (cols as f64 - 1.0);
    let h =
        MARGIN * 2.0 + 30.0 + heights.iter().sum::<f64>() + GAP_Y * (heights.len() as f64 - 1.0);
    (w.max(200.0), h)
}

fn header(out: &mut String, w: f64, h: f64, title: &str) {
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w:.0}\" height=\"{h:.0}\" viewBox=\"0 0 {w:.0} {h:.0}\" font-family=\"monospace\" font-size=\"12\">"
    );
    let _ = writeln!(out, "<title>{}</title>", escape(title));
    out.push_str("<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"8\" markerHeight=\"8\" orient=\"auto-start-reverse\"><path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#555\"/></marker></defs>\n");
    let _ = writeln!(
        out,
        "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>"
    );
    let _ = writeln!(
        out,
        "<text x=\"{MARGIN}\" y=\"{:.0}\" font-size=\"14\" font-weight=\"bold\">{}</text>",
        MARGIN + 10.0,
        escape(title)
    );
}

fn draw_edges(out: &mut String, boxes: &[Boxed], edges: &[(usize, usize, String)]) {
    for (from, to, label) in edges {
        let (a, b) = (&boxes[*from], &boxes[*to]);
        let (bx, by) = b.center();
        let (ax, ay) = a.center();
        let (x1, y1) = a.border_towards(bx, by);
        let (x2, y2) = b.border_towards(ax, ay);
        let _ = writeln!(
            out,
            "<line x1=\"{x1:.1}\" y1=\"{y1:.1}\" x2=\"{x2:.1}\" y2=\"{y2:.1}\" stroke=\"#555\" marker-end=\"url(#arrow)\"><title>{}</title></line>",
            escape(label)
        );
    }
}

fn draw_boxes(out: &mut String, boxes: &[Boxed]) {
    for b in boxes {
        let (fill, dash) = if b.external {
            ("#f3f3f3", " stroke-dasharray=\"4 3\"")
        } else {
            ("#eef4fb", "")
        };
        let _ = writeln!(
            out,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"4\" fill=\"{fill}\" stroke=\"#345\"{dash}/>",
            b.x,
            b.y,
            b.width(),
            b.height()
        );
        for (i, line) in b.lines.iter().enumerate() {
            let weight = if i == 0 { " font-weight=\"bold\"" } else { "" };
            let _ = writeln!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\"{weight}>{}</text>",
                b.x + 8.0,
                b.y + 17.0 + i as f64 * LINE_H,
                escape(line)
            );
        }
    }
}

/// The lines of a table's box: name, key columns, how many columns in all.
fn table_lines(t: &Table) -> Vec<String> {
    let mut lines = vec![t.name.clone()];
    let fk: Vec<&String> = t.foreign_keys.iter().flat_map(|f| &f.columns).collect();
    for c in &t.columns {
        let pk = t.primary_key.contains(&c.name);
        let is_fk = fk.contains(&&c.name);
        if pk || is_fk {
            let tag = match (pk, is_fk) {
                (true, true) => "PK FK",
                (true, false) => "PK",
                _ => "FK",
            };
            lines.push(format!("{tag:5} {}", c.name));
        }
    }
    let mut marks = vec![t.kind.clone()];
    if t.tenant_scoped {
        marks.push("tenant".into());
    }
    lines.push(format!("{} columns, {}", t.columns.len(), marks.join(", ")));
    lines
}

/// One component's tables and foreign keys, with the tables they reference in
/// other components drawn dashed after its own.
pub(super) fn er_diagram(component: &Component, schema: &Schema) -> String {
    let mut boxes: Vec<Boxed> = component
        .tables
        .iter()
        .map(|t| Boxed {
            lines: table_lines(t),
            external: false,
            x: 0.0,
            y: 0.0,
        })
        .collect();
    let mut index: BTreeMap<String, usize> = component
        .tables
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.clone(), i))
        .collect();
    let mut edges = Vec::new();
    for (i, t) in component.tables.iter().enumerate() {
        for fk in &t.foreign_keys {
            let target = match index.get(&fk.references) {
                Some(j) => *j,
                None => {
                    let home = owner_component(schema, &fk.references);
                    boxes.push(Boxed {
                        lines: vec![fk.references.clone(), format!("in {home}")],
                        external: true,
                        x: 0.0,
                        y: 0.0,
                    });
                    index.insert(fk.references.clone(), boxes.len() - 1);
                    boxes.len() - 1
                }
            };
            edges.push((i, target, fk.name.clone()));
        }
    }
    let (w, h) = grid(&mut boxes);
    let mut out = String::new();
    header(
        &mut out,
        w,
        h,
        &format!("component {}: tables and foreign keys", component.name),
    );
    draw_edges(&mut out, &boxes, &edges);
    draw_boxes(&mut out, &boxes);
    out.push_str("</svg>\n");
    out
}

pub(super) fn owner_component<'a>(schema: &'a Schema, table: &str) -> &'a str {
    schema
        .components
        .iter()
        .find(|c| c.tables.iter().any(|t| t.name == table))
        .map_or("?", |c| c.name.as_str())
}

/// Every component as a box (its table count), with an arrow per pair of
/// components a foreign key joins.
pub(super) fn overview(schema: &Schema) -> String {
    let mut boxes: Vec<Boxed> = schema
        .components
        .iter()
        .map(|c| {
            let tenant = c.tables.iter().filter(|t| t.tenant_scoped).count();
            let versioned = c.tables.iter().filter(|t| t.kind == "versioned").count();
            Boxed {
                lines: vec![
                    c.name.clone(),
                    format!("{} tables", c.tables.len()),
                    format!("{versioned} versioned, {tenant} tenant"),
                ],
                external: false,
                x: 0.0,
                y: 0.0,
            }
        })
        .collect();
    let mut pairs: BTreeMap<(usize, usize), usize> = BTreeMap::new();
    for (i, c) in schema.components.iter().enumerate() {
        for fk in c.tables.iter().flat_map(|t| &t.foreign_keys) {
            let home = owner_component(schema, &fk.references);
            if let Some(j) = schema.components.iter().position(|o| o.name == home)
                && j != i
            {
                *pairs.entry((i, j)).or_default() += 1;
            }
        }
    }
    let edges: Vec<(usize, usize, String)> = pairs
        .into_iter()
        .map(|((i, j), n)| (i, j, format!("{n} foreign key(s)")))
        .collect();
    let (w, h) = grid(&mut boxes);
    let mut out = String::new();
    header(&mut out, w, h, "components");
    draw_edges(&mut out, &boxes, &edges);
    draw_boxes(&mut out, &boxes);
    out.push_str("</svg>\n");
    out
}

/// Services (rows) by components (columns), each cell coloured by the access.
pub(super) fn access_map(schema: &Schema) -> String {
    let cell = 28.0;
    let label_w = schema.services.iter().map(|s| s.len()).max().unwrap_or(4) as f64 * CHAR_W + 16.0;
    let head_h = schema
        .components
        .iter()
        .map(|c| c.name.len())
        .max()
        .unwrap_or(4) as f64
        * CHAR_W
        * 0.75
        + 20.0;
    let top = MARGIN + 30.0 + head_h;
    let w = MARGIN * 2.0 + label_w + cell * schema.components.len() as f64 + 160.0;
    let h = top + cell * schema.services.len() as f64 + MARGIN + 20.0;
    let mut out = String::new();
    header(&mut out, w, h, "service access map");
    for (j, c) in schema.components.iter().enumerate() {
        let x = MARGIN + label_w + cell * j as f64 + cell / 2.0;
        let _ = writeln!(
            out,
            "<text x=\"{x:.1}\" y=\"{:.1}\" transform=\"rotate(-45 {x:.1} {:.1})\">{}</text>",
            top - 6.0,
            top - 6.0,
            escape(&c.name)
        );
    }
    let by: BTreeMap<(&str, &str), &Access> = schema
        .access
        .iter()
        .map(|a| ((a.service.as_str(), a.component.as_str()), a))
        .collect();
    for (i, s) in schema.services.iter().enumerate() {
        let y = top + cell * i as f64;
        let _ = writeln!(
            out,
            "<text x=\"{MARGIN}\" y=\"{:.1}\">{}</text>",
            y + cell / 2.0 + 4.0,
            escape(s)
        );
        for (j, c) in schema.components.iter().enumerate() {
            let access = by
                .get(&(s.as_str(), c.name.as_str()))
                .map_or("none", |a| a.access.as_str());
            let (fill, letter) = access_style(access);
            let x = MARGIN + label_w + cell * j as f64;
            let _ = writeln!(
                out,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{cell}\" height=\"{cell}\" fill=\"{fill}\" stroke=\"#fff\"><title>{} {access} {}</title></rect>",
                escape(s),
                escape(&c.name)
            );
            let _ = writeln!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{letter}</text>",
                x + cell / 2.0,
                y + cell / 2.0 + 4.0
            );
        }
    }
    let lx = MARGIN + label_w + cell * schema.components.len() as f64 + 20.0;
    for (k, access) in ["owns", "writes", "reads", "none"].iter().enumerate() {
        let (fill, letter) = access_style(access);
        let y = top + k as f64 * 22.0;
        let _ = writeln!(
            out,
            "<rect x=\"{lx:.1}\" y=\"{y:.1}\" width=\"16\" height=\"16\" fill=\"{fill}\" stroke=\"#999\"/><text x=\"{:.1}\" y=\"{:.1}\">{letter} {access}</text>",
            lx + 22.0,
            y + 12.0
        );
    }
    out.push_str("</svg>\n");
    out
}

fn access_style(access: &str) -> (&'static str, &'static str) {
    match access {
        "owns" => ("#66bb6a", "O"),
        "writes" => ("#ffb74d", "W"),
        "reads" => ("#90caf9", "R"),
        _ => ("#f5f5f5", "·"),
    }
}
