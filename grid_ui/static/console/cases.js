// The case queue: select cases for bulk dispatch, sort the shown rows by a column.
// The case page: photos open large in a dialog; the dispatch form shows the chosen target.
// Both: the dispatch picker (search the township, team of the selected cases' grids first,
// a confirmation before dispatching outside a case's grid).

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
  // the picker opens once there is something to dispatch
  document.querySelector(".bulkbar")?.classList.toggle("idle", n === 0);
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
    form.querySelector(".assignee-picker").hidden = target !== "assignee";
    form.querySelector("select[name='board']").closest("label").hidden = target !== "board";
  };
  form.querySelectorAll("input[name='target']").forEach((r) => r.addEventListener("change", show));
  show();
});

function setUpPicker(box) {
  const form = box.closest("form");
  const bulk = box.classList.contains("bulk");
  const team = box.querySelector(".people.team");
  const others = box.querySelector(".people.others");
  const search = box.querySelector(".person-search");
  const noMatch = box.querySelector(".no-match");
  const emptyTeam = box.querySelector(".empty-team");
  const confirmBox = box.querySelector("input[name='confirm_outside']");
  const dialog = box.querySelector("dialog.outside-dialog");
  const people = [...box.querySelectorAll("label.person")];
  people.forEach((p, i) => { p.dataset.index = i; });

  const filter = () => {
    if (!search || !others) return;
    const q = search.value.trim().toLowerCase();
    let shown = 0;
    others.querySelectorAll("label.person").forEach((p) => {
      const hit = !q || p.dataset.search.includes(q) || p.querySelector("input").checked;
      p.hidden = !hit;
      if (hit) shown += 1;
    });
    if (noMatch) noMatch.hidden = shown > 0;
  };
  search?.addEventListener("input", filter);
  search?.addEventListener("keydown", (event) => {
    if (event.key === "Enter") event.preventDefault();  // searching is not sending
  });

  const selected = () => [...document.querySelectorAll("input[name='case_id']:checked")].map((b) => b.value);
  const covered = (p) => new Set((p.dataset.cases || "").split(" ").filter(Boolean));
  const outside = (radio) => {
    if (!bulk) return radio.dataset.outside === "1" ? 1 : 0;
    const mine = covered(radio.closest("label.person"));
    return selected().filter((id) => !mine.has(id)).length;
  };
  // bulk: the team on duty in the grids of the selected cases goes first, the most covered
  // and the least loaded on top; everyone else back below, in name order
  const regroup = () => {
    const chosen = selected();
    const score = (p) => chosen.filter((id) => covered(p).has(id)).length;
    const inTeam = people.filter((p) => chosen.length && score(p) > 0);
    inTeam.sort((a, b) => score(b) - score(a) || Number(a.dataset.open) - Number(b.dataset.open));
    inTeam.forEach((p) => { p.hidden = false; team.appendChild(p); });
    people.filter((p) => !inTeam.includes(p))
      .sort((a, b) => Number(a.dataset.index) - Number(b.dataset.index))
      .forEach((p) => others.insertBefore(p, noMatch));
    if (emptyTeam) emptyTeam.hidden = inTeam.length > 0;
    filter();
  };
  if (bulk) {
    document.addEventListener("change", (event) => {
      if (event.target.name === "case_id" || event.target.id === "select-all") regroup();
    });
    regroup();
  }
  box.addEventListener("change", (event) => {
    if (event.target.name === "assignee_id" && confirmBox) confirmBox.checked = false;
  });

  form.addEventListener("submit", (event) => {
    if (box.hidden || !dialog || !confirmBox || confirmBox.checked) return;
    const chosen = box.querySelector("input[name='assignee_id']:checked");
    if (!chosen) return;
    const n = outside(chosen);
    if (!n) return;
    event.preventDefault();
    const text = bulk && selected().length > 1 ? dialog.dataset.many : dialog.dataset.one;
    dialog.querySelector(".question").textContent = text
      .replace("{name}", chosen.dataset.name).replace("{n}", String(n));
    dialog.showModal();
  });
  dialog?.addEventListener("click", (event) => {
    const answer = event.target.dataset?.answer;
    if (!answer) return;
    dialog.close();
    if (answer === "yes") {
      confirmBox.checked = true;
      form.requestSubmit();
    }
  });
}
document.querySelectorAll(".assignee-picker").forEach(setUpPicker);
// The merge form: choosing one of the possible duplicates fills in its number.
document.querySelectorAll("form[data-action='merge'] button.pick-into").forEach((button) => {
  button.addEventListener("click", () => {
    const input = button.closest("form").querySelector("input[name='into']");
    input.value = button.dataset.into;
    input.focus();
  });
});
