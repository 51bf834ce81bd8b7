// Renders trace records: a text timeline (one line per record) and an SVG / HTML picture
// with one lane per file, item, instance and thread, and arrows for hooks, callbacks and
// wake-ups.
#pragma once

#include <string>
#include <vector>

#include "trace/record.h"

namespace uep::tracetool {

enum class LaneKind { kFile, kItem, kInstance, kThread };

struct Lane {
  std::string name;   // eventfd#1, item#2, epoll#1, T2
  std::string label;  // longer description
  std::string short_label;  // what the picture prints at the lane's start
  LaneKind kind;
};

// One record, described.
struct Step {
  trace::Record rec;
  double t_us = 0;      // since the first record
  std::string thread;   // "T1 main"
  int lane = -1;        // subject lane
  int from = -1;        // arrow from this lane ...
  int to = -1;          // ... to this lane (-1: no arrow)
  std::string arrow_class;  // hook, callback, ready, wake, report, poll
  int from2 = -1;       // a second arrow in the same column (callback: item -> instance)
  int to2 = -1;
  std::string text;     // what happened, with arrows
};

struct Model {
  std::vector<Lane> lanes;  // in display order
  std::vector<Step> steps;  // thread-name records left out
};

Model BuildModel(const std::vector<trace::Record>& records);

// "  +12.3us  T2 waiter   item#1     eventfd#1 --wake(IN)--> item#1 [linked] --> epoll#1"
std::string RenderText(const Model& model);
// The same with runs of a repeated line, or of a repeated block of up to 16 lines, folded
// into one "... more times" line.
std::string RenderTextFolded(const Model& model);
// The model with each repeated run of steps kept once and followed by a note (a "mark"
// step) saying how many more times it ran: what the pictures draw.
Model FoldModel(const Model& model);
// Counts by record kind, by callback decision and by object (lane).
std::string RenderSummary(const Model& model);
std::string RenderSvg(const Model& model, const std::string& title);
// What a traced program's page says besides its own records: how many earlier records
// the ring did not keep, and each forked process's trace (nginx's workers).
struct HtmlExtras {
  uint64_t dropped = 0;
  struct Child {
    long pid = 0;
    Model model;  // its trace: the page shows its summary and picture
  };
  std::vector<Child> children;
};
std::string RenderHtml(const Model& model, const std::string& title,
                       const HtmlExtras& extras = {});

// "IN|OUT|HUP" for a mask.
std::string MaskString(uint32_t mask);

}  // namespace uep::tracetool
