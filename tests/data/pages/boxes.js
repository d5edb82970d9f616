/* SPDX-License-Identifier: ISC */
/*
 * boxes.js: test-page helper.  "#dark" in the URL selects the dark theme;
 * after layout, the CSS-pixel bounding box of every element with an id is
 * written as JSON into <pre id="boxes">, which `chromium --dump-dom` prints
 * for tests/integ/test_text_pages.sh.  The <pre> is never displayed.
 */
if (location.hash === "#dark")
	document.documentElement.className = "dark";
window.addEventListener("load", function () {
	var out = {}, all = document.querySelectorAll("[id]");
	for (var i = 0; i < all.length; i++) {
		var r = all[i].getBoundingClientRect();
		out[all[i].id] = [r.left, r.top, r.right, r.bottom];
	}
	out.__viewport = [window.innerWidth, window.innerHeight,
	    window.devicePixelRatio];
	var pre = document.createElement("pre");
	pre.id = "boxes";
	pre.style.display = "none";
	pre.textContent = "BOXES" + JSON.stringify(out) + "BOXES";
	document.body.appendChild(pre);
});
