// robota console: drag a deal card onto a column to move it (the same
// request the card's own "Move" button sends; htmx carries the CSRF
// header and shows the missing-fields dialog when the stage asks).
(function () {
  "use strict";
  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }
  ready(function () {
    var board = document.getElementById("board");
    if (!board) return;
    var dragged = null;
    board.addEventListener("dragstart", function (e) {
      var card = e.target.closest && e.target.closest(".deal");
      if (!card) return;
      dragged = card.getAttribute("data-deal");
      e.dataTransfer.setData("text/plain", dragged);
      e.dataTransfer.effectAllowed = "move";
    });
    board.addEventListener("dragover", function (e) {
      var col = e.target.closest && e.target.closest(".column");
      if (!col || !dragged) return;
      e.preventDefault();
      col.classList.add("drop");
    });
    board.addEventListener("dragleave", function (e) {
      var col = e.target.closest && e.target.closest(".column");
      if (col) col.classList.remove("drop");
    });
    board.addEventListener("drop", function (e) {
      var col = e.target.closest && e.target.closest(".column");
      if (!col || !dragged) return;
      e.preventDefault();
      col.classList.remove("drop");
      var id = dragged;
      dragged = null;
      if (!window.htmx) return;
      window.htmx.ajax("POST", "/console/deals/" + encodeURIComponent(id) + "/move", {
        target: "#dialog",
        values: { stage: col.getAttribute("data-stage") },
        headers: { "X-CSRF-Token": document.body.getAttribute("data-csrf") }
      });
    });
  });
})();
