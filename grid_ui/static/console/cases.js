// The case queue: select cases for bulk dispatch, sort the shown rows by a column.
// The case page: photos open large in a dialog; the dispatch form shows the chosen target.

const table = document.querySelector("table.sortable");
if (table) {
  table.querySelectorAll("th[data-sort]").forEach((th) => {
    th.addEventListener("click", () => {
      const index = [...th.parentElement.children].indexOf(th);
      const ascending = th.getAttribute("aria-sort") !== "ascending";
      table.querySelectorAll("th[aria-sort]").forEach((h) => h.removeAttribute("aria-sort"));
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      const body = table.tBodies[0];
      const rows = [...body.rows].filter((r) => r.dataset.case);
      const key = (row) => {
        const cell = row.cells[index];
        const value = cell.dataset.value ?? cell.textContent.trim();
        return th.dataset.sort === "num" ? Number(value) : value;
      };
      rows.sort((a, b) => {
        const x = key(a), y = key(b);
        const order = x < y ? -1 : x > y ? 1 : 0;
        return ascending ? order : -order;
      });
      rows.forEach((r) => body.appendChild(r));
    });
  });
}

const all = document.getElementById("select-all");
const counter = document.getElementById("selected-count");
const boxes = () => [...document.querySelectorAll("input[name='case_id']")];
function count() {
  if (!counter) return;
  const n = boxes().filter((b) => b.checked).length;
  counter.textContent = counter.dataset.template.replace("{n}", n);
  const submit = document.getElementById("bulk-submit");
  if (submit) submit.disabled = n === 0;
}
all?.addEventListener("change", () => {
  boxes().forEach((b) => { b.checked = all.checked; });
  count();
});
document.addEventListener("change", (event) => {
  if (event.target.name === "case_id") count();
});
count();

const viewer = document.getElementById("photo-viewer");
document.querySelectorAll("a.photo").forEach((link) => {
  link.addEventListener("click", (event) => {
    if (!viewer?.showModal) return;
    event.preventDefault();
    viewer.querySelector("img").src = link.dataset.large;
    viewer.showModal();
  });
});
viewer?.addEventListener("click", (event) => {
  if (event.target === viewer) viewer.close();
});

document.querySelectorAll("form[data-action='dispatch']").forEach((form) => {
  const show = () => {
    const target = form.querySelector("input[name='target']:checked")?.value;
    form.querySelector("select[name='assignee_id']").closest("label").hidden = target !== "assignee";
    form.querySelector("select[name='board']").closest("label").hidden = target !== "board";
  };
  form.querySelectorAll("input[name='target']").forEach((r) => r.addEventListener("change", show));
  show();
});

// The merge form: choosing one of the possible duplicates fills in its number.
document.querySelectorAll("form[data-action='merge'] button.pick-into").forEach((button) => {
  button.addEventListener("click", () => {
    const input = button.closest("form").querySelector("input[name='into']");
    input.value = button.dataset.into;
    input.focus();
  });
});
