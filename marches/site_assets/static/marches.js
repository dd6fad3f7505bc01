// marches: French labels for the column menu that Datasette's table.js builds (after it has run).
document.addEventListener("DOMContentLoaded", () => {
  const labels = {
    ".dropdown-sort-asc": "Trier par ordre croissant",
    ".dropdown-sort-desc": "Trier par ordre décroissant",
    ".dropdown-facet": "Regrouper selon cette colonne",
    ".dropdown-hide-column": "Masquer cette colonne",
    ".dropdown-show-all-columns": "Afficher toutes les colonnes",
    ".dropdown-not-blank": "Lignes où elle est renseignée",
  };
  for (const [selector, text] of Object.entries(labels)) {
    document.querySelectorAll(`.dropdown-menu ${selector}`).forEach((a) => (a.textContent = text));
  }
  document.querySelectorAll("a[aria-label='Remove this filter']").forEach((a) => a.setAttribute("aria-label", "Retirer ce filtre"));
  document.querySelectorAll(".dropdown-menu-icon title, svg title").forEach((t) => {
    if (t.textContent === "Table actions") t.textContent = "Actions";
  });
});
