"""axe-core (vendored under static/vendor/axe-core/) run in a page: the serious and critical violations it finds.

The script is loaded from the site itself, so the strict CSP allows it like the pages' own scripts.
"""

from playwright.sync_api import Page

AXE_URL = "/static/vendor/axe-core/axe.min.js"
BLOCKING_IMPACTS = ("serious", "critical")


def axe_violations(page: Page) -> list[str]:
    """Each serious or critical violation on the page as "rule (impact): the first offending nodes"."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(url=AXE_URL)
        page.wait_for_function("typeof window.axe !== 'undefined'")
    found = page.evaluate(
        """async (impacts) => {
            const result = await window.axe.run(document, {resultTypes: ["violations"]});
            return result.violations
              .filter((v) => impacts.includes(v.impact))
              .map((v) => {
                const where = v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(" | ");
                return `${v.id} (${v.impact}): ${v.help} @ ${where}`;
              });
        }""",
        list(BLOCKING_IMPACTS),
    )
    return found


def assert_accessible(page: Page) -> None:
    violations = axe_violations(page)
    assert violations == [], f"axe-core on {page.url}:\n" + "\n".join(violations)
