// How numbers and times read on the page; the same rules as codexbar/formatting.py.
"use strict";

const Format = (() => {
  function tokens(count) {
    if (count === null || count === undefined) return "—";
    if (count < 0) return "-" + tokens(-count);
    const units = [[1e9, "B"], [1e6, "M"], [1e3, "K"]];
    for (const [size, suffix] of units) {
      if (count >= size) {
        const scaled = count / size;
        let text = scaled < 10 ? scaled.toFixed(1) : scaled.toFixed(0);
        if (text.endsWith(".0")) text = text.slice(0, -2);
        if (text === "1000" && suffix !== "B") return tokens(size * 1000);
        return text + suffix;
      }
    }
    return String(count);
  }

  function dollars(amount) {
    if (amount === null || amount === undefined) return "—";
    return "$" + amount.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  }

  function percent(value) {
    const v = Math.max(0, Math.min(100, value));
    if (v > 0 && v < 1) return "<1%";
    return Math.floor(v + 0.5) + "%";
  }

  // "in 11m", "in 3h 31m", "in 1d 2h", "now": CodexBar's countdown table.
  function countdown(target, now) {
    const seconds = (target - now) / 1000;
    if (seconds < 1) return "now";
    let minutes = Math.max(1, Math.ceil(seconds / 60));
    const days = Math.floor(minutes / 1440);
    minutes -= days * 1440;
    const hours = Math.floor(minutes / 60);
    minutes -= hours * 60;
    if (days) return hours ? `in ${days}d ${hours}h` : minutes ? `in ${days}d ${minutes}m` : `in ${days}d`;
    if (hours) return minutes ? `in ${hours}h ${minutes}m` : `in ${hours}h`;
    return `in ${minutes}m`;
  }

  function age(moment, now) {
    const seconds = (now - moment) / 1000;
    if (seconds < 60) return "just now";
    if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
    if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
    const days = Math.floor(seconds / 86400);
    return days === 1 ? "1 day ago" : `${days} days ago`;
  }

  const pad = (n) => String(n).padStart(2, "0");
  function clock(date) { return `${pad(date.getHours())}:${pad(date.getMinutes())}`; }
  function dateTime(date) {
    return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${clock(date)}`;
  }
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  // "2 Dec 10:00": a local time that fits a narrow column.
  function dayTime(date) { return `${date.getDate()} ${MONTHS[date.getMonth()]} ${clock(date)}`; }
  function shortDay(isoDay) {
    const [, m, d] = isoDay.split("-");
    return `${Number(d)} ${MONTHS[Number(m) - 1]}`;
  }

  return { tokens, dollars, percent, countdown, age, clock, dateTime, dayTime, shortDay };
})();
