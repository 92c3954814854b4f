//! The README's guarantees name the tests that hold them: each named test must exist,
//! so a renamed or deleted test cannot leave a promise unheld without this failing.

#[test]
fn every_test_the_readme_guarantees_name_exists() {
    let readme = include_str!("../../README.md");
    let start = readme
        .find("## What mmusim guarantees")
        .expect("the README has its guarantees section");
    let end = readme[start + 3..]
        .find("\n## ")
        .map_or(readme.len(), |e| start + 3 + e);
    let section = &readme[start..end];
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integration");
    let mut named = 0;
    for quoted in section.split('`').skip(1).step_by(2) {
        let Some((module, test)) = quoted.split_once("::") else {
            continue;
        };
        if !module.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            continue;
        }
        let file = dir.join(format!("{module}.rs"));
        let file = if file.exists() {
            file
        } else {
            dir.join(module).join("mod.rs")
        };
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("`{quoted}`: no test module {}: {e}", file.display()));
        if test == "*" {
            assert!(
                text.contains("#[test]"),
                "`{quoted}`: no tests in the module"
            );
        } else {
            // The function, marked a test just above it, and not ignored.
            let at = text
                .find(&format!("fn {test}("))
                .unwrap_or_else(|| panic!("`{quoted}`: no `fn {test}` in {}", file.display()));
            let before: Vec<&str> = text[..at].lines().rev().take(4).collect();
            assert!(
                before.iter().any(|l| l.trim() == "#[test]"),
                "`{quoted}`: `fn {test}` is not marked #[test]"
            );
            assert!(
                !before.iter().any(|l| l.contains("#[ignore")),
                "`{quoted}`: `fn {test}` is ignored"
            );
        }
        named += 1;
    }
    assert!(named >= 20, "only {named} tests named");
}
