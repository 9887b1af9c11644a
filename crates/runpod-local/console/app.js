// Placeholder: the console page replaces this file.
"use strict";
document.getElementById("status").textContent = "console";
