//! # dsm-draw: pictures of found architectures
//!
//! Deterministic SVG (same architecture, same bytes) for the two spaces of `dsm-space`:
//!
//! - [`nb201_cell`]: a NAS-Bench-201 cell as its 4-node DAG, each edge labelled and styled by
//!   its op (`none` dashed and grey), with a legend and optionally the macro skeleton
//!   (stem, 3 stages of 5 cells, 2 reduction blocks, head);
//! - [`mbv3_subnet`]: a MobileNetV3-like subnet as a strip of blocks, one per active layer,
//!   grouped by unit: box width shows the kernel size, colour the expand ratio, `SE` marks
//!   squeeze-and-excite, a `/2` tag and a dashed line mark stride-2 boundaries, and each unit
//!   shows its output channels and resolution; MAdds and params in the caption.
//!
//! ```
//! use dsm_space::{MbV3Arch, MbV3Space, Nb201Cell};
//!
//! let cell: Nb201Cell = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|".parse()?;
//! let svg = dsm_draw::nb201_cell(&cell, &dsm_draw::CellOptions::default());
//! assert!(svg.starts_with("<svg") && svg.matches("class=\"edge\"").count() == 6);
//!
//! let net: MbV3Arch = "2,2,2,2,2:3,3,0,0,5,5,0,0,7,7,0,0,3,5,0,0,5,7,0,0:3,4,0,0,6,6,0,0,3,3,0,0,4,4,0,0,6,6,0,0".parse()?;
//! let svg = dsm_draw::mbv3_subnet(&net, &MbV3Space::new(1.0)?, 224, "a small subnet")?;
//! assert_eq!(svg.matches("class=\"layer\"").count(), 10);
//! # Ok::<(), dsm_space::SpaceError>(())
//! ```
//!
//! With the feature `plot`, [`chart`] holds the plotters layout every chart of the workspace
//! shares (the protocol's curves and Pareto front, the trainer's curves).

#![warn(missing_docs)]
#![forbid(unsafe_code)]

#[cfg(feature = "plot")]
pub mod chart;

use std::fmt::Write;

use dsm_space::mbv3::{Activation, NUM_UNITS, UNIT_STRIDES};
use dsm_space::nb201::EDGES;
use dsm_space::{MbV3Arch, MbV3Space, Nb201Cell, Nb201Op, SpaceError};

const FONT: &str = "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\"";

/// Escapes text for SVG.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Colour and dash pattern of each op.
fn op_style(op: Nb201Op) -> (&'static str, &'static str) {
    match op {
        Nb201Op::None => ("#9e9e9e", " stroke-dasharray=\"6 5\""),
        Nb201Op::SkipConnect => ("#212121", ""),
        Nb201Op::NorConv1x1 => ("#1f77b4", ""),
        Nb201Op::NorConv3x3 => ("#d62728", ""),
        Nb201Op::AvgPool3x3 => ("#2ca02c", ""),
    }
}

/// Options of [`nb201_cell`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellOptions {
    /// Also draw the macro skeleton (stem, stages of cells, reduction blocks, head).
    pub skeleton: bool,
    /// A title above the cell (e.g. the method and its test accuracy).
    pub title: Option<String>,
}

impl Default for CellOptions {
    fn default() -> Self {
        Self {
            skeleton: true,
            title: None,
        }
    }
}

/// SVG picture of a NAS-Bench-201 cell (one `<g class="edge">` per edge, with `data-op`).
pub fn nb201_cell(cell: &Nb201Cell, options: &CellOptions) -> String {
    let (w, cell_h) = (640.0, 430.0);
    let h = if options.skeleton {
        cell_h + 120.0
    } else {
        cell_h
    };
    let nodes: [(f64, f64); 4] = [
        (70.0, 190.0),
        (250.0, 100.0),
        (400.0, 260.0),
        (570.0, 190.0),
    ];
    // Control-point offsets (perpendicular bend) per edge, so that no label sits on another.
    let bend = [0.0, 0.0, 0.0, 175.0, 0.0, 0.0];
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" {FONT}>"
    );
    let _ = writeln!(s, "<rect width=\"{w}\" height=\"{h}\" fill=\"#ffffff\"/>");
    let title = options
        .title
        .clone()
        .unwrap_or_else(|| "NAS-Bench-201 cell".to_string());
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"24\" font-size=\"16\" text-anchor=\"middle\" font-weight=\"bold\">{}</text>",
        w / 2.0,
        esc(&title)
    );
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"44\" font-size=\"11\" text-anchor=\"middle\" fill=\"#555555\">{}</text>",
        w / 2.0,
        esc(&cell.to_string())
    );
    let _ = writeln!(
        s,
        "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#424242\"/></marker></defs>"
    );
    for (e, &(src, dst)) in EDGES.iter().enumerate() {
        let op = cell.op(e);
        let (color, dash) = op_style(op);
        let ((x1, y1), (x2, y2)) = (nodes[src], nodes[dst]);
        let (dx, dy) = (x2 - x1, y2 - y1);
        let len: f64 = (dx * dx + dy * dy).sqrt();
        // Shorten to the node circles (radius 22).
        let (ux, uy) = (dx / len, dy / len);
        let (sx, sy, ex, ey) = (
            x1 + 22.0 * ux,
            y1 + 22.0 * uy,
            x2 - 22.0 * ux,
            y2 - 22.0 * uy,
        );
        let (mx, my) = (
            (sx + ex) / 2.0 - bend[e] * uy,
            (sy + ey) / 2.0 + bend[e] * ux,
        );
        let (cx, cy) = (2.0 * mx - (sx + ex) / 2.0, 2.0 * my - (sy + ey) / 2.0);
        let name = op.name();
        let width = if op == Nb201Op::None { 1.5 } else { 2.5 };
        let _ = writeln!(
            s,
            "<g class=\"edge\" data-edge=\"{src}-&gt;{dst}\" data-op=\"{name}\">"
        );
        let _ = writeln!(
            s,
            "<path d=\"M {sx:.1} {sy:.1} Q {cx:.1} {cy:.1} {ex:.1} {ey:.1}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"{width}\"{dash} marker-end=\"url(#arrow)\"/>"
        );
        let tw = 7.0 * name.len() as f64 + 10.0;
        let _ = writeln!(
            s,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{tw:.1}\" height=\"18\" rx=\"4\" fill=\"#ffffff\" stroke=\"{color}\" stroke-width=\"1\"/>",
            mx - tw / 2.0,
            my - 9.0
        );
        let _ = writeln!(
            s,
            "<text x=\"{mx:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"middle\" fill=\"{color}\">{name}</text>",
            my + 4.0
        );
        let _ = writeln!(s, "</g>");
    }
    for (i, &(x, y)) in nodes.iter().enumerate() {
        let label = match i {
            0 => "in",
            3 => "out",
            _ => "",
        };
        let _ = writeln!(
            s,
            "<g class=\"node\" data-node=\"{i}\"><circle cx=\"{x}\" cy=\"{y}\" r=\"22\" fill=\"#fafafa\" stroke=\"#424242\" stroke-width=\"2\"/><text x=\"{x}\" y=\"{}\" font-size=\"15\" text-anchor=\"middle\">{i}</text><text x=\"{x}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\" fill=\"#555555\">{label}</text></g>",
            y + 5.0,
            y + 38.0
        );
    }
    // Legend.
    let _ = writeln!(s, "<g class=\"legend\">");
    for (i, op) in Nb201Op::ALL.iter().enumerate() {
        let (color, dash) = op_style(*op);
        let x = 20.0 + 122.0 * i as f64;
        let y = cell_h - 20.0;
        let _ = writeln!(
            s,
            "<line x1=\"{x}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"{color}\" stroke-width=\"2.5\"{dash}/>",
            x + 22.0
        );
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" font-size=\"11\">{}</text>",
            x + 27.0,
            y + 4.0,
            op.name()
        );
    }
    let _ = writeln!(s, "</g>");
    if options.skeleton {
        skeleton(&mut s, cell_h + 10.0, w);
    }
    s.push_str("</svg>\n");
    s
}

/// The NAS-Bench-201 macro network under the cell picture.
fn skeleton(s: &mut String, y: f64, w: f64) {
    let blocks: [(&str, &str, &str); 8] = [
        ("stem", "conv 3x3", "#eeeeee"),
        ("cell x5", "16 ch, 32x32", "#fff3e0"),
        ("reduce", "resblock /2", "#e3f2fd"),
        ("cell x5", "32 ch, 16x16", "#fff3e0"),
        ("reduce", "resblock /2", "#e3f2fd"),
        ("cell x5", "64 ch, 8x8", "#fff3e0"),
        ("head", "BN-ReLU-GAP", "#eeeeee"),
        ("linear", "classes", "#eeeeee"),
    ];
    let _ = writeln!(s, "<g class=\"skeleton\">");
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"middle\" fill=\"#555555\">macro network (C = 16, N = 5; resolutions for 32x32 inputs)</text>",
        w / 2.0,
        y + 12.0
    );
    let bw = (w - 40.0 - 7.0 * 8.0) / 8.0;
    for (i, (name, sub, fill)) in blocks.iter().enumerate() {
        let x = 20.0 + i as f64 * (bw + 8.0);
        let _ = writeln!(
            s,
            "<rect x=\"{x:.1}\" y=\"{}\" width=\"{bw:.1}\" height=\"52\" rx=\"6\" fill=\"{fill}\" stroke=\"#616161\"/>",
            y + 24.0
        );
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{}\" font-size=\"12\" text-anchor=\"middle\" font-weight=\"bold\">{name}</text>",
            x + bw / 2.0,
            y + 46.0
        );
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\" fill=\"#424242\">{sub}</text>",
            x + bw / 2.0,
            y + 64.0
        );
    }
    let _ = writeln!(s, "</g>");
}

/// The two published ImageNet architectures of DSM-NAS, as `(name, legacy string)`
/// (defined in [`dsm_space::mbv3::PUBLISHED`]).
pub use dsm_space::mbv3::PUBLISHED;

/// The pictures of [`PUBLISHED`] at 224 x 224, as `(file name, svg)`: what
/// `cargo xtask draw` writes to `docs/img/`.
pub fn published_pictures() -> Vec<(String, String)> {
    PUBLISHED
        .iter()
        .map(|(name, legacy)| {
            let arch: MbV3Arch = legacy.parse().expect("published architectures parse");
            let space = MbV3Space::new(1.2).expect("valid width");
            let title = if *name == "dsm_nas" {
                "DSM-NAS (ImageNet, published)"
            } else {
                "DSM-NAS+ (ImageNet, published)"
            };
            (
                format!("{name}.svg"),
                mbv3_subnet(&arch, &space, 224, title).expect("valid resolution"),
            )
        })
        .collect()
}

/// Fill colour of an expand ratio.
fn expand_color(e: usize) -> &'static str {
    match e {
        3 => "#c6dbef",
        4 => "#6baed6",
        6 => "#08519c",
        _ => "#eeeeee",
    }
}

/// SVG picture of a MobileNetV3-like subnet at a square input `resolution` (one
/// `<g class="layer">` per active searchable layer, with `data-kernel` and `data-expand`).
pub fn mbv3_subnet(
    arch: &MbV3Arch,
    space: &MbV3Space,
    resolution: u32,
    title: &str,
) -> Result<String, SpaceError> {
    let blocks = space.blocks(arch, resolution)?;
    let cost = space.cost_at(arch, resolution)?;
    let kw = |k: usize| 14.0 + 4.0 * k as f64; // 3 -> 26, 5 -> 34, 7 -> 42
    let gap_layer = 6.0;
    let gap_unit = 22.0;
    let stem_w = 64.0;
    let head_w = 86.0;
    let mut width = 20.0 + stem_w + gap_unit;
    for layers in arch.units() {
        width += layers
            .iter()
            .map(|l| kw(l.kernel as usize) + gap_layer)
            .sum::<f64>()
            + gap_unit;
    }
    width += head_w + 20.0;
    let width = width.max(620.0);
    let height = 300.0;
    let (top, box_h) = (92.0, 96.0);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height}\" viewBox=\"0 0 {width:.0} {height}\" {FONT}>"
    );
    let _ = writeln!(
        s,
        "<rect width=\"{width:.0}\" height=\"{height}\" fill=\"#ffffff\"/>"
    );
    let _ = writeln!(
        s,
        "<text x=\"20\" y=\"26\" font-size=\"16\" font-weight=\"bold\">{}</text>",
        esc(title)
    );
    let _ = writeln!(
        s,
        "<text class=\"caption\" x=\"20\" y=\"46\" font-size=\"12\" fill=\"#424242\">{:.2} M MAdds, {:.2} M params at {resolution}x{resolution}, width x{} (MAdds: all convolutions incl. squeeze-excite, classifier excluded)</text>",
        cost.madds as f64 / 1e6,
        cost.params as f64 / 1e6,
        space.width_mult()
    );
    let _ = writeln!(
        s,
        "<text x=\"20\" y=\"64\" font-size=\"11\" fill=\"#757575\">{}</text>",
        esc(&arch.to_string())
    );
    // Stem (conv 3x3 /2 + the fixed first block).
    let mut x = 20.0;
    let b0 = &blocks[0];
    let _ = writeln!(
        s,
        "<g class=\"stem\"><rect x=\"{x}\" y=\"{top}\" width=\"{stem_w}\" height=\"{box_h}\" rx=\"5\" fill=\"#eeeeee\" stroke=\"#616161\"/><text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">stem</text><text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\">3x3 /2</text><text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\">+ MB1 3x3</text><text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\" fill=\"#424242\">{} ch</text><text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\" fill=\"#424242\">{}x{}</text></g>",
        x + stem_w / 2.0,
        top + 30.0,
        x + stem_w / 2.0,
        top + 46.0,
        x + stem_w / 2.0,
        top + 60.0,
        x + stem_w / 2.0,
        top + box_h + 18.0,
        b0.out_ch,
        x + stem_w / 2.0,
        top + box_h + 32.0,
        b0.out_hw,
        b0.out_hw
    );
    x += stem_w + gap_unit;
    let mut bi = 1;
    for (u, layers) in arch.units().iter().enumerate().take(NUM_UNITS) {
        let unit_x = x;
        if UNIT_STRIDES[u] == 2 {
            let lx = x - gap_unit / 2.0;
            let _ = writeln!(
                s,
                "<line class=\"stride\" x1=\"{lx}\" y1=\"{}\" x2=\"{lx}\" y2=\"{}\" stroke=\"#e65100\" stroke-width=\"1.5\" stroke-dasharray=\"4 3\"/><text x=\"{lx}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\" fill=\"#e65100\">/2</text>",
                top - 14.0,
                top + box_h + 4.0,
                top - 18.0
            );
        }
        let _ = writeln!(s, "<g class=\"unit\" data-unit=\"{}\">", u + 1);
        for layer in layers {
            let b = &blocks[bi];
            let w = kw(b.kernel);
            let fill = expand_color(b.expand);
            let text_fill = if b.expand >= 4 { "#ffffff" } else { "#08306b" };
            let _ = writeln!(
                s,
                "<g class=\"layer\" data-kernel=\"{}\" data-expand=\"{}\" data-se=\"{}\">",
                layer.kernel,
                layer.expand,
                b.se_mid.is_some()
            );
            let _ = writeln!(
                s,
                "<rect x=\"{x:.1}\" y=\"{top}\" width=\"{w:.1}\" height=\"{box_h}\" rx=\"4\" fill=\"{fill}\" stroke=\"#08306b\" stroke-width=\"1\"/>"
            );
            let cx = x + w / 2.0;
            let _ = writeln!(
                s,
                "<text x=\"{cx:.1}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\" fill=\"{text_fill}\">{}x{}</text>",
                top + 22.0,
                b.kernel,
                b.kernel
            );
            let _ = writeln!(
                s,
                "<text x=\"{cx:.1}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\" fill=\"{text_fill}\">e{}</text>",
                top + 40.0,
                b.expand
            );
            if b.se_mid.is_some() {
                let _ = writeln!(
                    s,
                    "<text x=\"{cx:.1}\" y=\"{}\" font-size=\"9\" text-anchor=\"middle\" font-weight=\"bold\" fill=\"{text_fill}\">SE</text>",
                    top + 60.0
                );
            }
            let act = match b.act {
                Activation::Relu => "R",
                Activation::HSwish => "H",
            };
            let _ = writeln!(
                s,
                "<text x=\"{cx:.1}\" y=\"{}\" font-size=\"9\" text-anchor=\"middle\" fill=\"{text_fill}\">{act}</text>",
                top + 84.0
            );
            let _ = writeln!(s, "</g>");
            x += w + gap_layer;
            bi += 1;
        }
        let last = &blocks[bi - 1];
        let mid = (unit_x + x - gap_layer) / 2.0;
        let _ = writeln!(
            s,
            "<text x=\"{mid:.1}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\" font-weight=\"bold\">unit {}</text>",
            top - 6.0,
            u + 1
        );
        let _ = writeln!(
            s,
            "<text x=\"{mid:.1}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\" fill=\"#424242\">{} ch</text>",
            top + box_h + 18.0,
            last.out_ch
        );
        let _ = writeln!(
            s,
            "<text x=\"{mid:.1}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\" fill=\"#424242\">{}x{}</text>",
            top + box_h + 32.0,
            last.out_hw,
            last.out_hw
        );
        let _ = writeln!(s, "</g>");
        x += gap_unit - gap_layer;
    }
    let (expand, mix) = space.head_channels();
    let _ = writeln!(
        s,
        "<g class=\"head\"><rect x=\"{x}\" y=\"{top}\" width=\"{head_w}\" height=\"{box_h}\" rx=\"5\" fill=\"#eeeeee\" stroke=\"#616161\"/><text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">head</text><text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\">1x1 {expand}</text><text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\">GAP</text><text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\">1x1 {mix}</text><text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\">FC {}</text></g>",
        x + head_w / 2.0,
        top + 22.0,
        x + head_w / 2.0,
        top + 40.0,
        x + head_w / 2.0,
        top + 56.0,
        x + head_w / 2.0,
        top + 72.0,
        x + head_w / 2.0,
        top + 88.0,
        space.num_classes()
    );
    // Legend.
    let ly = height - 34.0;
    let _ = writeln!(s, "<g class=\"legend\">");
    let _ = writeln!(
        s,
        "<text x=\"20\" y=\"{}\" font-size=\"11\">expand ratio:</text>",
        ly + 12.0
    );
    for (i, e) in [3usize, 4, 6].iter().enumerate() {
        let lx = 100.0 + 56.0 * i as f64;
        let _ = writeln!(
            s,
            "<rect x=\"{lx}\" y=\"{ly}\" width=\"16\" height=\"16\" fill=\"{}\" stroke=\"#08306b\"/><text x=\"{}\" y=\"{}\" font-size=\"11\">e{e}</text>",
            expand_color(*e),
            lx + 21.0,
            ly + 12.0
        );
    }
    let _ = writeln!(
        s,
        "<text x=\"290\" y=\"{}\" font-size=\"11\">kernel size = box width (3, 5, 7); SE = squeeze-excite; R/H = ReLU/h-swish; /2 = stride 2</text>",
        ly + 12.0
    );
    let _ = writeln!(s, "</g>");
    s.push_str("</svg>\n");
    Ok(s)
}
