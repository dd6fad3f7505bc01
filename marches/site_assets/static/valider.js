// marches: the validation page. Files can be dropped on the zone; their total size is checked before sending
// (the server checks it again); while the server validates, the page says so.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.querySelector("form.validation");
  if (!form) return;
  const input = form.querySelector("input[type=file]");
  const zone = form.querySelector(".depot");
  const choice = form.querySelector(".depot-choix");
  const limit = Number(form.dataset.tailleMax);
  const button = form.querySelector(".bouton-fichiers");
  form.classList.add("ameliore");
  button.hidden = false;
  const size = (bytes) =>
    bytes >= 1048576
      ? `${(bytes / 1048576).toLocaleString("fr-FR", { maximumFractionDigits: 1 })}\u00a0Mo`
      : `${(bytes / 1024).toLocaleString("fr-FR", { maximumFractionDigits: 1 })}\u00a0Ko`;
  const check = () => {
    const files = Array.from(input.files);
    const total = files.reduce((sum, f) => sum + f.size, 0);
    const names = files.map((f) => `${f.name} (${size(f.size)})`).join(", ");
    if (limit && total > limit) {
      const message = `Fichiers trop volumineux : ${size(total)} au total, la limite est de ${size(limit)} par envoi. Validez les fichiers plus gros avec la commande « marches validate », ou envoyez-les un par un.`;
      input.setCustomValidity(message);
      choice.textContent = message;
      choice.classList.add("trop");
    } else {
      input.setCustomValidity("");
      choice.textContent = files.length ? `Choisi${files.length > 1 ? "s" : ""} : ${names}` : "Aucun fichier choisi.";
      choice.classList.remove("trop");
    }
  };
  input.addEventListener("change", check);
  check();
  ["dragenter", "dragover"].forEach((type) =>
    zone.addEventListener(type, (event) => {
      event.preventDefault();
      zone.classList.add("survol");
    })
  );
  ["dragleave", "drop"].forEach((type) => zone.addEventListener(type, () => zone.classList.remove("survol")));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer && event.dataTransfer.files.length) {
      input.files = event.dataTransfer.files;
      check();
    }
  });
  form.addEventListener("submit", (event) => {
    check();
    if (!input.checkValidity()) {
      event.preventDefault();
      input.reportValidity();
      return;
    }
    form.querySelector(".en-cours").hidden = false;
    // disabled after the browser has taken the form's values
    setTimeout(() => (form.querySelector("button[type=submit]").disabled = true), 0);
  });
});
