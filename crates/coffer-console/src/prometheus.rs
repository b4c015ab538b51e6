//! Reading a few series out of this process's Prometheus text.

/// The sum of every sample of `name` whose labels contain each of `labels` (`k="v"`).
pub fn sum(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (metric, rest) = match series.split_once('{') {
                Some((m, r)) => (m, r),
                None => (series, ""),
            };
            (metric == name && labels.iter().all(|want| rest.contains(want)))
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
        // An empty sum of floats is -0.0, which prints as "-0".
        .fold(0.0, |a, b| a + b)
}

#[cfg(test)]
mod tests {
    #[test]
    fn samples_are_summed_by_label() {
        let text = "# TYPE a counter\na{use=\"write\",result=\"hit\"} 3\na{use=\"read\",result=\"hit\"} 4\na{use=\"read\",result=\"miss\"} 1\nb 2\n";
        assert_eq!(super::sum(text, "a", &["result=\"hit\""]), 7.0);
        assert_eq!(super::sum(text, "a", &[]), 8.0);
        assert_eq!(super::sum(text, "b", &[]), 2.0);
        assert_eq!(super::sum(text, "c", &[]), 0.0);
    }
}
