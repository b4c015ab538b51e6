//! Charts drawn on the server as SVG (plotters), so pages need no charting script.

use plotters::prelude::*;

const WIDTH: u32 = 860;
const HEIGHT: u32 = 300;
/// Colours for series, in order (fine on light backgrounds, distinct for the common
/// colour-vision deficiencies).
const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
    RGBColor(240, 228, 66),
    RGBColor(0, 0, 0),
];

/// One line per series over `labels.len()` points (hours), with a legend.
pub fn lines(title: &str, labels: &[String], series: &[(String, Vec<u64>)]) -> String {
    let mut svg = String::new();
    let top = series
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1);
    let n = labels.len().max(2);
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0..(n - 1), 0..(top + top / 10 + 1));
        let Ok(mut chart) = chart else {
            return svg_fallback(title);
        };
        let _ = chart
            .configure_mesh()
            .x_labels(8)
            .label_style(("sans-serif", 13))
            .x_label_formatter(&|i| labels.get(*i).cloned().unwrap_or_default())
            .y_desc("requests")
            .draw();
        for (i, (name, values)) in series.iter().enumerate() {
            let colour = PALETTE[i % PALETTE.len()];
            if let Ok(drawn) = chart.draw_series(LineSeries::new(
                values.iter().enumerate().map(|(x, y)| (x, *y)),
                colour.stroke_width(2),
            )) {
                drawn.label(name.clone()).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(2))
                });
            }
        }
        if !series.is_empty() {
            let _ = chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.3))
                .position(SeriesLabelPosition::UpperLeft)
                .draw();
        }
        let _ = root.present();
    }
    svg
}

/// Horizontal bars, one per row, each labelled with its name and value.
pub fn bars(title: &str, unit: &str, rows: &[(String, f64)]) -> String {
    let mut svg = String::new();
    let top = rows
        .iter()
        .map(|(_, v)| *v)
        .fold(0.0f64, f64::max)
        .max(1e-9);
    let n = rows.len().max(1);
    let height = (90 + 36 * n) as u32;
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(8)
            .build_cartesian_2d(0.0..top * 1.15, 0.0..n as f64);
        let Ok(mut chart) = chart else {
            return svg_fallback(title);
        };
        let _ = chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .x_labels(6)
            .x_desc(unit)
            .label_style(("sans-serif", 13))
            .draw();
        let _ = chart.draw_series(rows.iter().enumerate().map(|(i, (_, v))| {
            let y = (n - 1 - i) as f64;
            Rectangle::new(
                [(0.0, y + 0.15), (*v, y + 0.85)],
                PALETTE[0].mix(0.35).filled(),
            )
        }));
        let _ = chart.draw_series(rows.iter().enumerate().map(|(i, (label, v))| {
            let y = (n - 1 - i) as f64;
            let value = if v.fract() == 0.0 {
                format!("{v:.0}")
            } else {
                format!("{v:.4}")
            };
            Text::new(
                format!("{label}: {value}"),
                (top * 0.01, y + 0.62),
                ("sans-serif", 14).into_font().color(&BLACK),
            )
        }));
        let _ = root.present();
    }
    svg
}

fn svg_fallback(title: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"40\"><text x=\"10\" y=\"25\">{}</text></svg>",
        quick_xml::escape::escape(title)
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_chart_is_svg_and_escapes_its_labels() {
        let svg = super::lines(
            "per hour",
            &["10:00".into(), "11:00".into()],
            &[("<Decrypt>".into(), vec![1, 3])],
        );
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(!svg.contains("<Decrypt>"));
        let svg = super::bars("cost", "USD", &[("key-1".into(), 0.5)]);
        assert!(svg.contains("key-1"));
    }
}
