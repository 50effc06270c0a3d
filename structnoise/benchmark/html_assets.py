"""The style sheet and the sorting script of ``report.html`` (:mod:`.html`), inline.

The script makes every ``table.sortable`` sort by a click on a header cell (numbers by
value, text alphabetically, empty cells last in both directions), marks each header cell
``data-sortable`` and its state in ``aria-sort``, sorts the table named in the address's
``#sort=<table id>:<column>:<asc|desc>`` on load and finally sets ``data-sort-ready``
(the number of sortable tables) on ``body``.
"""

#: The page's style sheet.
CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1400px;color:#222;
padding:0 1em}
h1{font-size:1.5em}h2{margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:right}th{text-align:left}
td.t,th.t{text-align:left}thead th{background:#f0f0f0;position:sticky;top:0}
th[data-sortable]{cursor:pointer}th[aria-sort=ascending]::after{content:" \\25B2"}
th[aria-sort=descending]::after{content:" \\25BC"}
tr.best td{font-weight:bold}.warn{color:#b00}.muted{color:#777}
tfoot td{font-style:italic;background:#fafafa}
figure{display:inline-block;margin:.5em;vertical-align:top;max-width:calc(100% - 1em)}
figure img.fig{max-width:100%;height:auto;border:1px solid #ddd}
.scroll{overflow-x:auto;max-width:100%}
.grid{display:flex;flex-wrap:wrap;gap:.6em;align-items:flex-start}
.grid figure{margin:0;text-align:center;font-size:.8em;width:200px}
.grid img{width:192px;height:192px;image-rendering:pixelated;border:1px solid #999}
.overview{position:relative;width:192px;height:192px}
.overview svg{position:absolute;left:0;top:0}
"""

#: The sorting script (plain JavaScript, no library), run at the end of the page.
JS = """
(function () {
  function key(cell) {
    var v = cell.hasAttribute('data-v') ? cell.getAttribute('data-v') : cell.textContent;
    var n = parseFloat(v);
    if (v !== '' && isFinite(n) && String(n) !== 'NaN' && /^[-+0-9.eE]+$/.test(v.trim()))
      return {num: true, v: n};
    return {num: false, v: v.trim().toLowerCase(), empty: v.trim() === ''};
  }
  function sortTable(table, col, dir) {
    var body = table.tBodies[0];
    if (!body) return;
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a.cells[col]), y = key(b.cells[col]);
      if (!!x.empty !== !!y.empty) return x.empty ? 1 : -1;
      var c = (x.num && y.num) ? x.v - y.v : (x.v < y.v ? -1 : x.v > y.v ? 1 : 0);
      if (x.num !== y.num) c = x.num ? -1 : 1;
      return dir === 'desc' ? -c : c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    var heads = table.tHead.rows[0].cells;
    var state = dir === 'desc' ? 'descending' : 'ascending';
    for (var i = 0; i < heads.length; i++)
      heads[i].setAttribute('aria-sort', i === col ? state : 'none');
    table.setAttribute('data-sorted', col + ':' + dir);
  }
  var tables = document.querySelectorAll('table.sortable');
  tables.forEach(function (table) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, i) {
      th.setAttribute('data-sortable', '1');
      th.setAttribute('aria-sort', 'none');
      th.title = 'click to sort';
      th.addEventListener('click', function () {
        sortTable(table, i, th.getAttribute('aria-sort') === 'ascending' ? 'desc' : 'asc');
      });
    });
  });
  var m = /sort=([A-Za-z0-9_-]+):(\\d+):(asc|desc)/.exec(decodeURIComponent(location.hash));
  if (m) { var t = document.getElementById(m[1]); if (t) sortTable(t, +m[2], m[3]); }
  document.body.setAttribute('data-sort-ready', String(tables.length));
})();
"""
